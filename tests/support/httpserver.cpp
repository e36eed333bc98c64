#include "support/httpserver.h"

#include <QCryptographicHash>
#include <QHostAddress>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTcpSocket>

namespace unisearch::test {

namespace {

QByteArray etagOf(const QByteArray &data)
{
    return '"' + QCryptographicHash::hash(data, QCryptographicHash::Sha1).toHex().left(16) + '"';
}

QByteArray reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 302: return "Found";
    case 404: return "Not Found";
    case 416: return "Range Not Satisfiable";
    default: return "Error";
    }
}

} // namespace

HttpServer::HttpServer(QObject *parent)
    : QObject(parent), m_server(new QTcpServer(this))
{
    connect(m_server, &QTcpServer::newConnection, this, &HttpServer::onNewConnection);
}

HttpServer::~HttpServer() = default;

bool HttpServer::listen()
{
    return m_server->listen(QHostAddress::LocalHost, 0);
}

QUrl HttpServer::url(const QString &path) const
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(m_server->serverPort()).arg(path));
}

void HttpServer::addFile(const QString &path, const QByteArray &data)
{
    m_files.insert(path, data);
}

void HttpServer::addUnsizedStream(const QString &path, qint64 bytes)
{
    m_streams.insert(path, bytes);
}

void HttpServer::addRedirect(const QString &from, const QString &to)
{
    m_redirects.insert(from, to);
}

qint64 HttpServer::bodyBytesServed() const
{
    qint64 n = 0;
    for (const Request &r : m_requests)
        n += r.bodyBytes;
    return n;
}

void HttpServer::onNewConnection()
{
    while (QTcpSocket *socket = m_server->nextPendingConnection()) {
        socket->setParent(this);
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] { onReadyRead(socket); });
        connect(socket, &QTcpSocket::disconnected, this, [this, socket] {
            m_pending.remove(socket);
            socket->deleteLater();
        });
    }
}

void HttpServer::onReadyRead(QTcpSocket *socket)
{
    QByteArray &buffer = m_pending[socket];
    buffer += socket->readAll();
    const qsizetype end = buffer.indexOf("\r\n\r\n");
    if (end < 0)
        return;
    const QByteArray head = buffer.left(end);
    buffer.clear();
    respond(socket, head);
}

void HttpServer::respond(QTcpSocket *socket, const QByteArray &head)
{
    const QList<QByteArray> lines = head.split('\n');
    const QList<QByteArray> requestLine = lines.value(0).trimmed().split(' ');
    Request r;
    r.path = QString::fromLatin1(requestLine.value(1));
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines[i].trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon < 0)
            continue;
        const QByteArray name = line.left(colon).trimmed().toLower();
        const QByteArray value = line.mid(colon + 1).trimmed();
        if (name == "range")
            r.range = value;
        else if (name == "if-range")
            r.ifRange = value;
    }

    if (m_streams.contains(r.path)) {
        r.status = 200;
        m_requests.append(r);
        const qsizetype index = m_requests.size() - 1;
        socket->write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        // Keeps about 256 KiB queued, so the body goes only as fast as the client reads.
        auto feed = [this, socket, index, left = m_streams.value(r.path)]() mutable {
            static const QByteArray chunk(64 << 10, 'x');
            while (left > 0 && socket->state() == QAbstractSocket::ConnectedState && socket->bytesToWrite() < (256 << 10)) {
                const qint64 n = qMin<qint64>(left, chunk.size());
                socket->write(chunk.constData(), n);
                left -= n;
                m_requests[index].bodyBytes += n;
            }
            if (left == 0 && socket->state() == QAbstractSocket::ConnectedState)
                socket->disconnectFromHost();  // after the queued bytes are written
        };
        connect(socket, &QTcpSocket::bytesWritten, this, feed);
        feed();
        return;
    }
    QByteArray headers;
    QByteArray body;
    qint64 limit = -1;
    bool stall = false;
    if (m_redirects.contains(r.path)) {
        r.status = 302;
        headers += "Location: " + url(m_redirects.value(r.path)).toEncoded() + "\r\n";
    } else if (!m_files.contains(r.path)) {
        r.status = 404;
        body = "no such file\n";
    } else {
        const QByteArray &data = m_files[r.path];
        const QByteArray etag = etagOf(data);
        headers += "ETag: " + etag + "\r\nAccept-Ranges: bytes\r\n";
        static const QRegularExpression rangeRe(QStringLiteral(R"(^bytes=(\d+)-$)"));
        const QRegularExpressionMatch m = rangeRe.match(QString::fromLatin1(r.range));
        const bool useRange = !m_ignoreRange && m.hasMatch() && (r.ifRange.isEmpty() || r.ifRange == etag);
        if (useRange) {
            const qint64 from = m.captured(1).toLongLong();
            if (from >= data.size()) {
                r.status = 416;
                headers += "Content-Range: bytes */" + QByteArray::number(data.size()) + "\r\n";
            } else {
                r.status = 206;
                headers += "Content-Range: bytes " + QByteArray::number(from) + '-' + QByteArray::number(data.size() - 1)
                           + '/' + QByteArray::number(data.size()) + "\r\n";
                body = data.mid(from);
            }
        } else {
            r.status = 200;
            body = data;
        }
        if (m_cutAfter >= 0) {
            limit = m_cutAfter;
            m_cutAfter = -1;
        } else if (m_stallAfter >= 0) {
            limit = m_stallAfter;
            stall = true;
            m_stallAfter = -1;
        }
    }
    QByteArray response = "HTTP/1.1 " + QByteArray::number(r.status) + ' ' + reason(r.status) + "\r\n";
    response += headers;
    response += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    response += "Connection: close\r\n\r\n";
    r.bodyBytes = limit >= 0 ? qMin<qint64>(limit, body.size()) : body.size();
    response += body.left(r.bodyBytes);
    m_requests.append(r);
    socket->write(response);
    if (!stall)
        socket->disconnectFromHost();  // after the buffered bytes are written
}

} // namespace unisearch::test
