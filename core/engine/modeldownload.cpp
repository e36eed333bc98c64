// The download job (see modeldownload.h).
#include "engine/modeldownload.h"

#include "engine/engine.h"
#include "util/log.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QJsonDocument>
#include <QLocale>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QRegularExpression>
#include <QSaveFile>
#include <QStorageInfo>
#include <QtConcurrent/QtConcurrentRun>

#include <atomic>

namespace unisearch::engine {

namespace {

const QString logCategory = QStringLiteral("download");

QString native(const QString &path)
{
    return QDir::toNativeSeparators(path);
}

QString bytesText(qint64 bytes)
{
    return QLocale::c().formattedDataSize(bytes, 1, QLocale::DataSizeSIFormat);
}

// "bytes 100-199/200" → (100, 200); "bytes */200" → (-1, 200); total -1 when "*".
struct ContentRange {
    qint64 first = -1;
    qint64 total = -1;
    bool valid = false;
};

ContentRange parseContentRange(const QByteArray &value)
{
    static const QRegularExpression re(QStringLiteral(R"(^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$)"),
                                       QRegularExpression::CaseInsensitiveOption);
    const QRegularExpressionMatch m = re.match(QString::fromLatin1(value));
    ContentRange r;
    if (!m.hasMatch())
        return r;
    r.valid = true;
    if (m.capturedLength(1) > 0)
        r.first = m.captured(1).toLongLong();
    if (m.captured(3) != QLatin1String("*"))
        r.total = m.captured(3).toLongLong();
    return r;
}

// The file name the URL ends with (model_base_retrieval_coco.pth), else <name>.pth: a
// decoded URL may hold anything ("..%2F..%2Fx", a NUL), so only a plain name is taken.
QString downloadedFileName(const CatalogueEntry &entry)
{
    QString file = entry.url.fileName();
    if (!catalogueNameProblem(file).isEmpty())
        file = entry.name + QStringLiteral(".pth");
    return file;
}

} // namespace

// What the worker thread gets and gives back.
struct ModelDownload::Work {
    PreparedModelImport prepared;
    QString partPath;
    QString finalPath;     // the part renamed to the URL's file name before the import
    QString expectedSha;   // empty: no check
    QPointer<ModelDownload> owner;
    std::atomic<bool> cancelled{false};
    // Results
    QString actualSha;
    bool checksumFailed = false;
    std::optional<ImportedModel> imported;
    QString error;
};

ModelDownload::ModelDownload(Engine *engine, Params params, QObject *parent)
    : QObject(parent), m_engine(engine), m_params(std::move(params))
{
    m_dir = m_params.downloadDir.isEmpty() ? QDir(m_engine->dataDir()).filePath(QStringLiteral("downloads"))
                                           : m_params.downloadDir;
    m_watcher = new QFutureWatcher<void>(this);
    connect(m_watcher, &QFutureWatcher<void>::finished, this, &ModelDownload::onWorkerFinished);
}

ModelDownload::~ModelDownload()
{
    if (m_reply) {
        m_state = State::Cancelled;  // no signals from here on
        m_reply->abort();
    }
    if (m_work) {
        m_work->cancelled = true;
        m_watcher->waitForFinished();
        // The import finished after all: it must not leave an unrecorded bundle behind.
        if (m_work->imported)
            QDir(m_work->imported->model.path).removeRecursively();
    }
}

QString ModelDownload::partPath() const
{
    return QDir(m_dir).filePath(m_params.entry.name + QStringLiteral(".part"));
}

QString ModelDownload::metaPath() const
{
    return partPath() + QStringLiteral(".json");
}

qint64 ModelDownload::partialSize() const
{
    const QFileInfo info(partPath());
    return info.isFile() ? info.size() : 0;
}

bool ModelDownload::isRunning() const
{
    return m_state == State::Downloading || m_state == State::Verifying || m_state == State::Importing;
}

void ModelDownload::setState(State state)
{
    if (m_state == state)
        return;
    m_state = state;
    emit stateChanged(state);
}

// The partial file's origin: the URL and the server's validator (ETag or Last-Modified),
// so that a resume never glues bytes of two different files together.
void ModelDownload::writeMeta(const QString &validator)
{
    QSaveFile f(metaPath());
    if (!f.open(QIODevice::WriteOnly))
        return;  // without it the next start restarts from zero: slower, still correct
    const QJsonObject o{{QStringLiteral("url"), m_params.entry.url.toString()},
                        {QStringLiteral("validator"), validator}};
    f.write(QJsonDocument(o).toJson(QJsonDocument::Compact));
    f.commit();
}

QString ModelDownload::readMetaValidator() const
{
    QFile f(metaPath());
    if (!f.open(QIODevice::ReadOnly))
        return QStringLiteral("\n");  // no record: cannot vouch for the part
    const QJsonObject o = QJsonDocument::fromJson(f.readAll()).object();
    if (o.value(QStringLiteral("url")).toString() != m_params.entry.url.toString())
        return QStringLiteral("\n");
    return o.value(QStringLiteral("validator")).toString();
}

bool ModelDownload::discardPartial()
{
    if (isRunning())
        return false;
    QFile::remove(metaPath());
    return !QFileInfo::exists(partPath()) || QFile::remove(partPath());
}

bool ModelDownload::start()
{
    if (isRunning())
        return false;
    if (m_work) {
        m_error = QStringLiteral("The cancelled import of %1 is still finishing; try again in a moment.")
                      .arg(m_params.entry.name);
        return false;
    }
    m_error.clear();
    m_result = Result{};
    m_progress = Progress{};
    m_restarted = false;
    const CatalogueEntry &entry = m_params.entry;

    auto refuse = [&](const QString &message) {
        m_error = message;
        log::warning(logCategory, message);
        return false;
    };
    // The entry may not come from ModelCatalogue::load(): its name is checked here too,
    // before it names any file.
    if (const QString problem = catalogueNameProblem(entry.name); !problem.isEmpty())
        return refuse(QStringLiteral("'%1' cannot be a model's name: %2 (a name is a plain file name).")
                          .arg(quotedCatalogueName(entry.name), problem));
    if (!m_engine->isOpen())
        return refuse(QStringLiteral("The library is not open: %1").arg(m_engine->errorString()));
    for (const ModelInfo &m : m_engine->models())
        if (m.name == entry.name && QFileInfo(m.path).isDir())
            return refuse(QStringLiteral("The model '%1' is already imported.").arg(entry.name));
    if (!QDir().mkpath(m_dir) || !QFileInfo(m_dir).isWritable())
        return refuse(QStringLiteral("Cannot write to the download folder %1; check its permissions and free space.")
                          .arg(native(m_dir)));

    qint64 from = partialSize();
    if (from > 0 && readMetaValidator() == QStringLiteral("\n")) {
        // A part of unknown origin (another URL, or no record): start over.
        log::info(logCategory, QStringLiteral("discarding %1: it is not from %2").arg(partPath(), entry.url.toString()));
        QFile::remove(partPath());
        from = 0;
    }
    if (entry.size > 0) {
        const QStorageInfo storage(m_dir);
        if (storage.isValid() && storage.bytesAvailable() >= 0 && storage.bytesAvailable() < entry.size - from)
            return refuse(QStringLiteral("Not enough free space in %1 for %2: it needs %3, %4 are free.")
                              .arg(native(m_dir), entry.name, bytesText(entry.size - from),
                                   bytesText(storage.bytesAvailable())));
    }

    if (!m_network)
        m_network = new QNetworkAccessManager(this);
    setState(State::Downloading);
    log::info(logCategory, from > 0 ? QStringLiteral("resuming %1 at byte %2 from %3")
                                          .arg(entry.name)
                                          .arg(from)
                                          .arg(entry.url.toString())
                                    : QStringLiteral("downloading %1 from %2").arg(entry.name, entry.url.toString()));
    sendRequest(from);
    return true;
}

void ModelDownload::sendRequest(qint64 from)
{
    m_requestedFrom = from;
    m_acceptedBody = false;
    m_restartFromZero = false;
    m_progress.received = from;
    m_progress.total = m_params.entry.size;
    m_progress.resumed = from > 0;
    m_progress.bytesPerSecond = 0;
    m_progress.etaSeconds = -1;
    m_rateBytes = from;
    m_rateClock.start();
    m_emitClock.start();

    QNetworkRequest request(m_params.entry.url);
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::NoLessSafeRedirectPolicy);
    request.setMaximumRedirectsAllowed(10);
    request.setTransferTimeout(m_params.stallTimeoutMs);
    request.setHeader(QNetworkRequest::UserAgentHeader,
                      QStringLiteral("Unisearch/%1").arg(QStringLiteral(UNISEARCH_VERSION)));
    // Byte ranges count bytes of the file itself: no transfer compression.
    request.setRawHeader("Accept-Encoding", "identity");
    if (from > 0) {
        request.setRawHeader("Range", QByteArray("bytes=") + QByteArray::number(qint64(from)) + '-');
        // The server sends the rest only if the file is still the one the part came from,
        // and the whole (new) file otherwise.
        const QString validator = readMetaValidator();
        if (!validator.isEmpty())
            request.setRawHeader("If-Range", validator.toLatin1());
    }
    QNetworkReply *reply = m_network->get(request);
    m_reply = reply;
    connect(reply, &QNetworkReply::readyRead, this, &ModelDownload::onReadyRead);
    connect(reply, &QNetworkReply::finished, this, &ModelDownload::onReplyFinished);
    emit progressUpdated(m_progress);
}

// Called when the final response's body starts (redirects have been followed): decides
// whether the body continues the part (206), replaces it (200), or is not the file.
bool ModelDownload::acceptResponse()
{
    const int status = m_reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status != 200 && status != 206)
        return false;  // an error page: onReplyFinished reports the status
    if (m_file.isOpen())
        m_file.close();
    m_file.setFileName(partPath());
    qint64 from = 0;
    qint64 total = -1;
    if (status == 206) {
        const ContentRange range = parseContentRange(m_reply->rawHeader("Content-Range"));
        if (!range.valid || range.first != m_requestedFrom) {
            // Not the range asked for: fetch the whole file instead.
            log::warning(logCategory, QStringLiteral("the server sent another range (%1) than asked for (from %2); "
                                                     "downloading %3 whole")
                                          .arg(QString::fromLatin1(m_reply->rawHeader("Content-Range")))
                                          .arg(m_requestedFrom)
                                          .arg(m_params.entry.name));
            m_restartFromZero = true;
            m_reply->abort();
            return false;
        }
        from = range.first;
        total = range.total;
        if (!m_file.open(QIODevice::ReadWrite) || !m_file.resize(from) || !m_file.seek(from)) {
            fail(QStringLiteral("Cannot write the download to %1: %2").arg(native(partPath()), m_file.errorString()));
            return false;
        }
    } else {
        if (m_requestedFrom > 0)
            log::info(logCategory, QStringLiteral("the server sent the whole of %1 again instead of the rest; "
                                                  "restarting from zero")
                                       .arg(m_params.entry.name));
        const QVariant length = m_reply->header(QNetworkRequest::ContentLengthHeader);
        total = length.isValid() ? length.toLongLong() : -1;
        if (!m_file.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
            fail(QStringLiteral("Cannot write the download to %1: %2").arg(native(partPath()), m_file.errorString()));
            return false;
        }
    }
    if (total >= 0 && m_params.entry.size > 0 && total != m_params.entry.size) {
        fail(QStringLiteral("The server offers %1 bytes for %2, but the catalogue expects %3; the file is not the "
                            "one the catalogue describes.")
                 .arg(total)
                 .arg(m_params.entry.name)
                 .arg(m_params.entry.size),
             true);
        return false;
    }
    if (total > 0) {
        const QStorageInfo storage(m_dir);
        if (storage.isValid() && storage.bytesAvailable() >= 0 && storage.bytesAvailable() < total - from) {
            fail(QStringLiteral("Not enough free space in %1 for %2: it needs %3 more, %4 are free.")
                     .arg(native(m_dir), m_params.entry.name, bytesText(total - from),
                          bytesText(storage.bytesAvailable())));
            return false;
        }
    }
    // What the body may bring, all told: the size the server announced, else the
    // catalogue's, else the maximum (the server may send without end).
    if (total >= 0) {
        m_limit = total;
        m_limitSource = LimitSource::Server;
    } else if (m_params.entry.size > 0) {
        m_limit = m_params.entry.size;
        m_limitSource = LimitSource::Catalogue;
    } else {
        m_limit = m_params.maxBytes;
        m_limitSource = LimitSource::Maximum;
    }
    QString validator = QString::fromLatin1(m_reply->rawHeader("ETag"));
    if (validator.isEmpty() || validator.startsWith(QLatin1String("W/")))  // a weak tag cannot guard a range
        validator = QString::fromLatin1(m_reply->rawHeader("Last-Modified"));
    writeMeta(validator);
    m_progress.received = from;
    m_progress.total = total;
    m_progress.resumed = from > 0;
    m_rateBytes = from;
    m_rateClock.restart();
    m_acceptedBody = true;
    return true;
}

void ModelDownload::onReadyRead()
{
    QNetworkReply *reply = m_reply;
    if (!reply || m_state != State::Downloading)
        return;
    if (!m_acceptedBody && !acceptResponse()) {
        // Not the file (an error page): drain it. A reply that was dropped (failure, or
        // replaced by a request for the whole file) is no longer m_reply.
        if (m_reply == reply)
            reply->readAll();
        return;
    }
    // What arrived, but never more than one byte past the limit: the excess is not written.
    const QByteArray data = m_reply->read(qMin(m_reply->bytesAvailable(), m_limit - m_progress.received + 1));
    if (data.isEmpty())
        return;
    if (m_progress.received + data.size() > m_limit) {
        const QString limit = bytesText(m_limit);
        fail(m_limitSource == LimitSource::Maximum
                 ? QStringLiteral("The server sent more than %1 for %2 without saying how large the file is, and the "
                                  "catalogue does not say either; no checkpoint is that large, so the download was "
                                  "stopped and its partial file deleted.")
                       .arg(limit, m_params.entry.name)
                 : QStringLiteral("The server sent more than the %1 that %2 for %3; the download was stopped and its "
                                  "partial file deleted.")
                       .arg(limit,
                            m_limitSource == LimitSource::Server ? QStringLiteral("it announced")
                                                                 : QStringLiteral("the catalogue gives"),
                            m_params.entry.name),
             true);
        return;
    }
    if (m_file.write(data) != data.size()) {
        // Typically a full disk; the part so far stays for a resume once there is room.
        fail(QStringLiteral("Could not write the download to %1: %2. Is the disk full? Free some space and start "
                            "the download again to resume it.")
                 .arg(native(partPath()), m_file.errorString()));
        return;
    }
    m_progress.received += data.size();
    updateRate(false);
}

void ModelDownload::updateRate(bool force)
{
    const qint64 ms = m_rateClock.elapsed();
    if (ms >= 500) {
        const double rate = double(m_progress.received - m_rateBytes) * 1000.0 / double(ms);
        // Smoothed, so that the ETA does not jump with every burst.
        m_progress.bytesPerSecond = m_progress.bytesPerSecond > 0 ? 0.7 * m_progress.bytesPerSecond + 0.3 * rate : rate;
        m_rateBytes = m_progress.received;
        m_rateClock.restart();
    }
    m_progress.etaSeconds = (m_progress.total > 0 && m_progress.bytesPerSecond > 0)
                                ? int((m_progress.total - m_progress.received) / m_progress.bytesPerSecond + 0.5)
                                : -1;
    if (force || m_emitClock.elapsed() >= m_params.progressIntervalMs) {
        m_emitClock.restart();
        emit progressUpdated(m_progress);
    }
}

void ModelDownload::onReplyFinished()
{
    QNetworkReply *reply = m_reply;
    if (!reply)
        return;
    m_reply = nullptr;
    reply->deleteLater();
    if (m_state != State::Downloading)
        return;  // cancelled or failed: already reported

    // Whatever arrived with the end.
    if (reply->bytesAvailable() > 0) {
        m_reply = reply;
        onReadyRead();
        m_reply = nullptr;
        if (m_state != State::Downloading)
            return;
    }
    if (m_file.isOpen()) {
        const bool flushed = m_file.flush();
        m_file.close();
        if (!flushed) {
            fail(QStringLiteral("Could not write the download to %1: %2. Is the disk full?")
                     .arg(native(partPath()), m_file.errorString()));
            return;
        }
    }
    if (m_restartFromZero) {
        if (m_restarted) {
            fail(QStringLiteral("The server at %1 does not answer range requests consistently; the download cannot "
                                "continue.")
                     .arg(m_params.entry.url.host()),
                 true);
            return;
        }
        m_restarted = true;
        QFile::remove(partPath());
        sendRequest(0);
        return;
    }

    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QString url = m_params.entry.url.toString();
    if (!m_acceptedBody && (status == 200 || status == 206) && reply->error() == QNetworkReply::NoError) {
        // A reply with an empty body never signalled readyRead.
        m_reply = reply;
        const bool accepted = acceptResponse();
        m_reply = nullptr;
        if (m_state != State::Downloading)
            return;
        if (accepted)
            m_file.close();
    }
    if (status == 416) {
        // Range Not Satisfiable: the part is as long as the file (a transfer that ended
        // right after its last byte), or longer (the file changed): check, else restart.
        const ContentRange range = parseContentRange(reply->rawHeader("Content-Range"));
        if (range.valid && range.total == m_requestedFrom && m_requestedFrom > 0) {
            m_progress.received = m_progress.total = m_requestedFrom;
            updateRate(true);
            startVerifyAndImport();
            return;
        }
        if (!m_restarted) {
            m_restarted = true;
            QFile::remove(partPath());
            QFile::remove(metaPath());
            sendRequest(0);
            return;
        }
    }
    if (status >= 400 || (status != 0 && status != 200 && status != 206)) {
        const QString reason = reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString();
        fail(status == 404 || status == 410
                 ? QStringLiteral("The server has no file at %1 (HTTP %2 %3). The catalogue may be out of date; "
                                  "get the checkpoint another way and import it (Model → Manage Models… → Import, "
                                  "or 'unisearch-cli model import FILE').")
                       .arg(url)
                       .arg(status)
                       .arg(reason)
                 : QStringLiteral("The server answered HTTP %1 %2 for %3. Try again later.").arg(status).arg(reason, url));
        return;
    }
    if (reply->error() != QNetworkReply::NoError || !m_acceptedBody) {
        const QString what = reply->error() == QNetworkReply::OperationCanceledError
                                 ? QStringLiteral("no data arrived for %1 s").arg(m_params.stallTimeoutMs / 1000)
                                 : reply->errorString();
        fail(m_progress.received > 0
                 ? QStringLiteral("The download of %1 stopped after %2: %3. Start it again to resume where it stopped.")
                       .arg(m_params.entry.name, bytesText(m_progress.received), what)
                 : QStringLiteral("Cannot download %1 from %2: %3. Check the network connection and try again.")
                       .arg(m_params.entry.name, url, what));
        return;
    }
    if (m_progress.total >= 0 && m_progress.received != m_progress.total) {
        fail(QStringLiteral("The download of %1 ended after %2 of %3. Start it again to resume where it stopped.")
                 .arg(m_params.entry.name, bytesText(m_progress.received), bytesText(m_progress.total)));
        return;
    }
    m_progress.total = m_progress.received;
    m_progress.etaSeconds = 0;
    updateRate(true);
    startVerifyAndImport();
}

void ModelDownload::startVerifyAndImport()
{
    const CatalogueEntry &entry = m_params.entry;
    setState(entry.sha256.isEmpty() ? State::Importing : State::Verifying);
    if (m_state != State::Verifying && m_state != State::Importing)
        return;  // cancelled from a stateChanged slot: the whole part stays for a later start()

    auto work = std::make_shared<Work>();
    work->partPath = partPath();
    work->finalPath = QDir(m_dir).filePath(downloadedFileName(entry));
    work->expectedSha = entry.sha256;
    work->owner = this;
    ModelImportRequest request;
    request.checkpoint = work->finalPath;
    request.name = entry.name;
    request.task = entry.task;
    if (!entry.architecture.isEmpty())
        request.architectureJson = QString::fromUtf8(QJsonDocument(entry.architecture).toJson(QJsonDocument::Compact));
    // prepareModelImport wants the file to exist: check the name against the part.
    ModelImportRequest probe = request;
    probe.checkpoint = work->partPath;
    QString error;
    std::optional<PreparedModelImport> prepared = m_engine->prepareModelImport(probe, &error);
    if (!prepared) {
        fail(error);
        return;
    }
    prepared->request.checkpoint = work->finalPath;
    work->prepared = *prepared;
    m_work = work;
    m_watcher->setFuture(QtConcurrent::run([work] {
        if (!work->expectedSha.isEmpty()) {
            QFile f(work->partPath);
            QCryptographicHash hash(QCryptographicHash::Sha256);
            if (!f.open(QIODevice::ReadOnly)) {
                work->error = QStringLiteral("Cannot read the download %1: %2").arg(native(work->partPath), f.errorString());
                return;
            }
            QByteArray block(1 << 20, Qt::Uninitialized);
            for (;;) {
                if (work->cancelled)
                    return;
                const qint64 n = f.read(block.data(), block.size());
                if (n < 0) {
                    work->error =
                        QStringLiteral("Cannot read the download %1: %2").arg(native(work->partPath), f.errorString());
                    return;
                }
                if (n == 0)
                    break;
                hash.addData(QByteArrayView(block.constData(), n));
            }
            work->actualSha = QString::fromLatin1(hash.result().toHex());
            if (work->actualSha != work->expectedSha) {
                work->checksumFailed = true;
                return;
            }
            if (work->cancelled)
                return;
            QMetaObject::invokeMethod(work->owner, [owner = work->owner] {
                if (owner && owner->m_state == State::Verifying)
                    owner->setState(State::Importing);
            }, Qt::QueuedConnection);
        }
        if (work->cancelled)
            return;
        QFile::remove(work->finalPath);
        if (!QFile::rename(work->partPath, work->finalPath)) {
            work->error = QStringLiteral("Cannot rename %1 to %2; check the folder's permissions.")
                              .arg(native(work->partPath), native(work->finalPath));
            return;
        }
        work->imported = runModelImport(work->prepared, &work->error);
    }));
}

void ModelDownload::onWorkerFinished()
{
    std::shared_ptr<Work> work = std::move(m_work);
    if (!work)
        return;
    const CatalogueEntry &entry = m_params.entry;
    auto removeFiles = [&] {
        QFile::remove(work->partPath);
        QFile::remove(work->finalPath);
        QFile::remove(metaPath());
    };
    if (m_state == State::Cancelled) {
        if (work->imported)
            QDir(work->imported->model.path).removeRecursively();
        // A file that was checked already is as good as a complete part: keep it for a
        // later start() (it resumes with nothing left to fetch).
        if (QFileInfo::exists(work->finalPath) && !QFileInfo::exists(work->partPath))
            QFile::rename(work->finalPath, work->partPath);
        return;
    }
    if (work->checksumFailed) {
        removeFiles();
        fail(QStringLiteral("The downloaded file for %1 does not match the catalogue's checksum (expected sha256 %2, "
                            "got %3). It was deleted and nothing was imported. Try the download again; if it fails "
                            "again, the file on the server is not the one the catalogue describes.")
                 .arg(entry.name, work->expectedSha, work->actualSha));
        return;
    }
    if (!work->imported) {
        removeFiles();
        fail(QStringLiteral("The downloaded file for %1 is not a usable model, so it was deleted: %2")
                 .arg(entry.name, work->error));
        return;
    }
    QString error;
    if (!m_engine->registerModel(*work->imported, &error)) {
        removeFiles();
        fail(error);
        return;
    }
    removeFiles();  // the bundle holds the weights now
    m_result.ok = true;
    m_result.imported = std::move(work->imported);
    log::info(logCategory, QStringLiteral("downloaded and imported %1 (%2)").arg(entry.name, entry.url.toString()));
    setState(State::Finished);
    emit finished(m_result);
}

void ModelDownload::requestInterruption()
{
    if (!isRunning())
        return;
    m_error = QStringLiteral("The download of %1 was cancelled; start it again to resume.").arg(m_params.entry.name);
    const bool transferring = m_state == State::Downloading;
    setState(State::Cancelled);
    if (transferring) {
        if (m_reply)
            m_reply->abort();  // onReplyFinished sees Cancelled and stays quiet
        if (m_file.isOpen()) {
            m_file.flush();
            m_file.close();
        }
    } else if (m_work) {
        m_work->cancelled = true;  // the worker stops between steps; the rest is undone at its end
    }
    log::info(logCategory, m_error);
    m_result.cancelled = true;
    m_result.error = m_error;
    emit finished(m_result);
}

void ModelDownload::fail(const QString &message, bool removePartial)
{
    m_error = message;
    log::warning(logCategory, message);
    if (m_reply) {
        QNetworkReply *reply = m_reply;
        m_reply = nullptr;
        reply->abort();
        reply->deleteLater();
    }
    if (m_file.isOpen()) {
        m_file.flush();
        m_file.close();
    }
    if (removePartial) {
        QFile::remove(partPath());
        QFile::remove(metaPath());
    }
    m_result.error = message;
    setState(State::Failed);
    emit failed(message);
}

} // namespace unisearch::engine
