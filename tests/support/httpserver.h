#pragma once
// A minimal HTTP/1.1 file server on 127.0.0.1 for download tests, on the test's own event
// loop. It answers GET (one request per connection, then closes), honours
// "Range: bytes=N-" with 206 / 416 and If-Range against its ETag, follows a redirect table,
// and can misbehave on purpose: cut the connection after some bytes, stall after some
// bytes, or ignore Range and send the whole file with 200.
#include <QByteArray>
#include <QHash>
#include <QList>
#include <QObject>
#include <QString>
#include <QUrl>

class QTcpServer;
class QTcpSocket;

namespace unisearch::test {

class HttpServer : public QObject
{
    Q_OBJECT
public:
    struct Request {
        QString path;
        QByteArray range;    // the Range header, empty when none
        QByteArray ifRange;  // the If-Range header
        int status = 0;      // what the server answered
        qint64 bodyBytes = 0;  // body bytes it sent (or started to send)
    };

    explicit HttpServer(QObject *parent = nullptr);
    ~HttpServer() override;

    bool listen();  // on 127.0.0.1, a free port
    QUrl url(const QString &path) const;

    void addFile(const QString &path, const QByteArray &data);
    void addRedirect(const QString &from, const QString &to);  // 302
    // A server that does not say how much it sends: GET path answers 200 without
    // Content-Length and sends `bytes` bytes (ended by closing the connection), written
    // only as fast as the client reads them. Range is ignored.
    void addUnsizedStream(const QString &path, qint64 bytes);
    // The next response (only) sends this many body bytes, then closes the connection.
    void cutNextAfter(qint64 bytes) { m_cutAfter = bytes; }
    // The next response (only) sends this many body bytes, then sends nothing more while
    // keeping the connection open.
    void stallNextAfter(qint64 bytes) { m_stallAfter = bytes; }
    // Answer every request with the whole file (200), as servers without Range do.
    void setIgnoreRange(bool ignore) { m_ignoreRange = ignore; }

    const QList<Request> &requests() const { return m_requests; }
    qint64 bodyBytesServed() const;

private:
    void onNewConnection();
    void onReadyRead(QTcpSocket *socket);
    void respond(QTcpSocket *socket, const QByteArray &head);

    QTcpServer *m_server = nullptr;
    QHash<QString, QByteArray> m_files;
    QHash<QString, QString> m_redirects;
    QHash<QString, qint64> m_streams;
    QHash<QTcpSocket *, QByteArray> m_pending;
    QList<Request> m_requests;
    qint64 m_cutAfter = -1;
    qint64 m_stallAfter = -1;
    bool m_ignoreRange = false;
};

} // namespace unisearch::test
