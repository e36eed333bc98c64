#pragma once
// The core logger. core/ writes records; app/ decides where they go by installing sinks
// (stderr for the CLI; the log file in the data dir and the log view for the GUI).
// Thread-safe: any thread may log. A sink runs on the logging thread, under the logger's
// lock, so it must be quick, must not log itself, and must hop to the GUI thread on its
// own (queued) if it touches widgets.
#include <QDateTime>
#include <QString>

#include <functional>
#include <optional>

namespace unisearch::log {

enum class Level { Debug = 0, Info = 1, Warning = 2, Error = 3 };

struct Record {
    Level level = Level::Info;
    QDateTime time;    // UTC
    QString category;  // the part of the program: "catalog", "engine", "cli", ...
    QString message;
};

using Sink = std::function<void(const Record &)>;

// Installs a sink that receives records at minLevel and above; returns its id.
int addSink(Sink sink, Level minLevel = Level::Info);
void removeSink(int id);
void removeAllSinks();

void write(Level level, const QString &category, const QString &message);
inline void debug(const QString &category, const QString &message) { write(Level::Debug, category, message); }
inline void info(const QString &category, const QString &message) { write(Level::Info, category, message); }
inline void warning(const QString &category, const QString &message) { write(Level::Warning, category, message); }
inline void error(const QString &category, const QString &message) { write(Level::Error, category, message); }

QString toString(Level level);                                  // "debug", "info", ...
std::optional<Level> levelFromString(const QString &name);      // case-insensitive
// "2024-05-01T10:00:00.123Z warning catalog: message"
QString format(const Record &record);

// Ready-made sinks.
Sink stderrSink();  // one formatted line per record
// Appends formatted lines to path (created with its folder). A file over maxBytes at
// start is moved to path + ".1" first so the log cannot grow without bound.
// Returns an empty sink (and sets *error) when the file cannot be opened.
Sink fileSink(const QString &path, QString *error = nullptr, qint64 maxBytes = 4 * 1024 * 1024);

// Routes qDebug/qInfo/qWarning/qCritical into the logger (category "qt" or the Qt
// logging category), so library warnings end up in the same places.
void installQtMessageHandler();

} // namespace unisearch::log
