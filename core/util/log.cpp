#include "util/log.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>

namespace unisearch::log {

namespace {

struct Entry {
    Sink sink;
    Level minLevel;
};

struct Registry {
    std::mutex mutex;
    std::map<int, Entry> sinks;
    int nextId = 1;
};

Registry &registry()
{
    // Never destroyed: Qt may still log (through installQtMessageHandler) while static
    // objects are being torn down at exit.
    static Registry *r = new Registry;
    return *r;
}

} // namespace

int addSink(Sink sink, Level minLevel)
{
    if (!sink)
        return 0;
    Registry &r = registry();
    std::lock_guard lock(r.mutex);
    const int id = r.nextId++;
    r.sinks.emplace(id, Entry{std::move(sink), minLevel});
    return id;
}

void removeSink(int id)
{
    Registry &r = registry();
    std::lock_guard lock(r.mutex);
    r.sinks.erase(id);
}

void removeAllSinks()
{
    Registry &r = registry();
    std::lock_guard lock(r.mutex);
    r.sinks.clear();
}

void write(Level level, const QString &category, const QString &message)
{
    // A sink that logs (say, a Qt warning from QFile routed back here) would deadlock on
    // the registry lock; such nested records are dropped instead.
    thread_local bool inWrite = false;
    if (inWrite)
        return;
    inWrite = true;
    struct Reset {
        ~Reset() { inWrite = false; }
    } reset;
    Registry &r = registry();
    std::lock_guard lock(r.mutex);
    if (r.sinks.empty())
        return;
    const Record record{level, QDateTime::currentDateTimeUtc(), category, message};
    for (const auto &[id, entry] : r.sinks) {
        if (level < entry.minLevel)
            continue;
        // A failing sink must not take the program (or the other sinks) down.
        try {
            entry.sink(record);
        } catch (...) {
        }
    }
}

QString toString(Level level)
{
    switch (level) {
    case Level::Debug: return QStringLiteral("debug");
    case Level::Info: return QStringLiteral("info");
    case Level::Warning: return QStringLiteral("warning");
    case Level::Error: return QStringLiteral("error");
    }
    return QStringLiteral("info");
}

std::optional<Level> levelFromString(const QString &name)
{
    const QString n = name.trimmed().toLower();
    for (Level l : {Level::Debug, Level::Info, Level::Warning, Level::Error})
        if (n == toString(l))
            return l;
    if (n == QLatin1String("warn"))
        return Level::Warning;
    return std::nullopt;
}

QString format(const Record &record)
{
    return QStringLiteral("%1 %2 %3: %4")
        .arg(record.time.toString(Qt::ISODateWithMs), toString(record.level), record.category, record.message);
}

Sink stderrSink()
{
    return [](const Record &record) {
        const QByteArray line = (format(record) + QLatin1Char('\n')).toUtf8();
        std::fwrite(line.constData(), 1, static_cast<size_t>(line.size()), stderr);
        std::fflush(stderr);
    };
}

Sink fileSink(const QString &path, QString *error, qint64 maxBytes)
{
    const QFileInfo info(path);
    QDir().mkpath(info.absolutePath());
    if (info.exists() && info.size() > maxBytes) {
        const QString old = path + QStringLiteral(".1");
        QFile::remove(old);
        QFile::rename(path, old);
    }
    auto file = std::make_shared<QFile>(path);
    if (!file->open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Text)) {
        if (error)
            *error = QStringLiteral("cannot write the log file %1: %2").arg(path, file->errorString());
        return {};
    }
    // Sinks run under the registry lock, so the file needs no lock of its own.
    return [file](const Record &record) {
        file->write((format(record) + QLatin1Char('\n')).toUtf8());
        file->flush();
    };
}

namespace {

void qtMessageHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    Level level = Level::Info;
    switch (type) {
    case QtDebugMsg: level = Level::Debug; break;
    case QtInfoMsg: level = Level::Info; break;
    case QtWarningMsg: level = Level::Warning; break;
    case QtCriticalMsg:
    case QtFatalMsg: level = Level::Error; break;
    }
    const QString category = (context.category && qstrcmp(context.category, "default") != 0)
                                 ? QString::fromLatin1(context.category)
                                 : QStringLiteral("qt");
    write(level, category, message);
}

} // namespace

void installQtMessageHandler()
{
    qInstallMessageHandler(qtMessageHandler);
}

} // namespace unisearch::log
