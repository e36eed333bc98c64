#include "ui/itemactions.h"

#include <QClipboard>
#include <QDBusConnection>
#include <QDBusConnectionInterface>
#include <QDBusMessage>
#include <QDBusPendingCallWatcher>
#include <QDesktopServices>
#include <QDir>
#include <QFileInfo>
#include <QGuiApplication>
#include <QProcess>
#include <QStandardPaths>
#include <QUrl>

namespace unisearch::ui {

bool openItem(const QString &path, std::int64_t timeMs, QString *error)
{
    if (!QFileInfo::exists(path)) {
        if (error)
            *error = QObject::tr("%1 does not exist any more.").arg(QDir::toNativeSeparators(path));
        return false;
    }
    if (timeMs > 0) {
        // Players that take a start time on their command line.
        const double sec = double(timeMs) / 1000.0;
        struct Player {
            const char *exe;
            QStringList args;
        };
        const QList<Player> players{
            {"mpv", {QStringLiteral("--start=%1").arg(sec, 0, 'f', 3), path}},
            {"vlc", {QStringLiteral("--start-time=%1").arg(sec, 0, 'f', 3), path}},
            {"celluloid", {QStringLiteral("--mpv-start=%1").arg(sec, 0, 'f', 3), path}},
        };
        for (const Player &p : players) {
            const QString exe = QStandardPaths::findExecutable(QString::fromLatin1(p.exe));
            if (!exe.isEmpty() && QProcess::startDetached(exe, p.args))
                return true;
        }
    }
    if (QDesktopServices::openUrl(QUrl::fromLocalFile(path)))
        return true;
    if (error)
        *error = QObject::tr("No application is set up to open %1.").arg(QDir::toNativeSeparators(path));
    return false;
}

bool showInFolder(const QString &path, QString *error)
{
    const QString dir = QFileInfo(path).absolutePath();
    const QString service = QStringLiteral("org.freedesktop.FileManager1");
    QDBusConnection bus = QDBusConnection::sessionBus();
    QDBusConnectionInterface *names = bus.isConnected() ? bus.interface() : nullptr;
    if (names && (names->isServiceRegistered(service) || names->activatableServiceNames().value().contains(service))) {
        QDBusMessage call = QDBusMessage::createMethodCall(service, QStringLiteral("/org/freedesktop/FileManager1"),
                                                           service, QStringLiteral("ShowItems"));
        call << QStringList{QUrl::fromLocalFile(path).toString(QUrl::FullyEncoded)} << QString();
        // Asynchronous: starting a file manager can take a while, and the window must not
        // wait for it. Should it answer with an error, the folder is opened instead.
        auto *watcher = new QDBusPendingCallWatcher(bus.asyncCall(call), qApp);
        QObject::connect(watcher, &QDBusPendingCallWatcher::finished, qApp, [dir](QDBusPendingCallWatcher *w) {
            if (w->isError())
                QDesktopServices::openUrl(QUrl::fromLocalFile(dir));
            w->deleteLater();
        });
        return true;
    }
    if (QDesktopServices::openUrl(QUrl::fromLocalFile(dir)))
        return true;
    if (error)
        *error = QObject::tr("No file manager could open %1.").arg(QDir::toNativeSeparators(dir));
    return false;
}

void copyPath(const QString &path)
{
    if (QClipboard *c = QGuiApplication::clipboard())
        c->setText(QDir::toNativeSeparators(path));
}

} // namespace unisearch::ui
