// Show in Folder: the desktop's file manager (org.freedesktop.FileManager1 on the session
// bus) is asked to show the file selected; with no such service, or when it answers with
// an error, the folder that holds the file is opened instead. CTest runs this under
// dbus-run-session (a private session bus); a fake file manager on it records the calls,
// and a URL handler for file: records what was opened.
#include "ui/itemactions.h"

#include <QApplication>
#include <QDBusConnection>
#include <QDBusConnectionInterface>
#include <QDBusContext>
#include <QDBusError>
#include <QDesktopServices>
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QUrl>
#include <QtTest>

using namespace unisearch;

class FakeFileManager : public QObject, protected QDBusContext
{
    Q_OBJECT
    Q_CLASSINFO("D-Bus Interface", "org.freedesktop.FileManager1")

public:
    QStringList shown;
    bool failing = false;

public slots:
    Q_SCRIPTABLE void ShowItems(const QStringList &uris, const QString &startupId)
    {
        Q_UNUSED(startupId);
        if (failing) {
            sendErrorReply(QDBusError::Failed, QStringLiteral("cannot show that"));
            return;
        }
        shown << uris;
    }
};

// What QDesktopServices::openUrl was asked to open (file: URLs).
class OpenedUrls : public QObject
{
    Q_OBJECT
public:
    QList<QUrl> urls;
public slots:
    void open(const QUrl &url) { urls << url; }
};

class TestItemActions : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void fileManagerSelectsTheFile();
    void anErrorOpensTheFolder();
    void withoutAFileManagerTheFolderOpens();
    void cleanupTestCase();

private:
    QTemporaryDir m_tmp;
    QString m_file;
    FakeFileManager m_fileManager;
    OpenedUrls m_opened;
};

void TestItemActions::initTestCase()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("DBUS_SESSION_BUS_ADDRESS"),
             "no session bus: run this test under dbus-run-session (CTest does)");
    QVERIFY(QDBusConnection::sessionBus().isConnected());
    QVERIFY(m_tmp.isValid());
    QVERIFY(QDir().mkpath(m_tmp.filePath(QStringLiteral("a folder"))));
    m_file = m_tmp.filePath(QStringLiteral("a folder/photo #1.jpg"));
    QFile f(m_file);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.close();
    QDesktopServices::setUrlHandler(QStringLiteral("file"), &m_opened, "open");
}

void TestItemActions::fileManagerSelectsTheFile()
{
    QDBusConnection bus = QDBusConnection::sessionBus();
    QVERIFY(bus.registerObject(QStringLiteral("/org/freedesktop/FileManager1"), &m_fileManager,
                               QDBusConnection::ExportScriptableSlots));
    QVERIFY(bus.registerService(QStringLiteral("org.freedesktop.FileManager1")));
    QString error;
    QVERIFY2(ui::showInFolder(m_file, &error), qPrintable(error));
    // The URI of the file itself (spaces and '#' encoded), not of its folder.
    QTRY_COMPARE(m_fileManager.shown, QStringList{QUrl::fromLocalFile(m_file).toString(QUrl::FullyEncoded)});
    QVERIFY(m_fileManager.shown.first().contains(QStringLiteral("photo%20%231.jpg")));
    QTest::qWait(100);
    QVERIFY(m_opened.urls.isEmpty());
}

void TestItemActions::anErrorOpensTheFolder()
{
    m_fileManager.failing = true;
    m_opened.urls.clear();
    QString error;
    QVERIFY2(ui::showInFolder(m_file, &error), qPrintable(error));
    QTRY_COMPARE(m_opened.urls, QList<QUrl>{QUrl::fromLocalFile(m_tmp.filePath(QStringLiteral("a folder")))});
    m_fileManager.failing = false;
}

void TestItemActions::withoutAFileManagerTheFolderOpens()
{
    QDBusConnection bus = QDBusConnection::sessionBus();
    QVERIFY(bus.unregisterService(QStringLiteral("org.freedesktop.FileManager1")));
    QTRY_VERIFY(!bus.interface()->isServiceRegistered(QStringLiteral("org.freedesktop.FileManager1")));
    m_fileManager.shown.clear();
    m_opened.urls.clear();
    QString error;
    QVERIFY2(ui::showInFolder(m_file, &error), qPrintable(error));
    QCOMPARE(m_opened.urls, QList<QUrl>{QUrl::fromLocalFile(m_tmp.filePath(QStringLiteral("a folder")))});
    QVERIFY(m_fileManager.shown.isEmpty());
}

void TestItemActions::cleanupTestCase()
{
    QDesktopServices::unsetUrlHandler(QStringLiteral("file"));
}

QTEST_MAIN(TestItemActions)
#include "tst_itemactions.moc"
