// labels export-xmp: the names taught for library items become XMP keywords in
// PHOTO.EXT.xmp sidecars, read back with exiftool; a person's own keywords in an existing
// sidecar stay; the originals keep their bytes and mtime; --dry-run writes nothing; a
// folder that cannot be written fails for its file only.
#include "catalog/catalog.h"
#include "support/cliprocess.h"
#include "support/guiwindow.h"
#include "support/images.h"
#include "support/workspace.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMessageBox>
#include <QPushButton>
#include <QProcess>
#include <QStandardPaths>
#include <QtTest>

#include <grp.h>
#include <unistd.h>

using namespace unisearch;

namespace {

constexpr uid_t kNobody = 65534;

// Between fork and exec: drop root for nobody, so that a folder's permission bits apply.
void becomeNobody()
{
    ::setgroups(0, nullptr);
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)
        ::_exit(126);
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// exiftool's reading of one list tag (-j prints one value as a string, several as an array).
QStringList exiftoolList(const QString &file, const QString &tag)
{
    QProcess p;
    p.start(QStringLiteral("exiftool"), {QStringLiteral("-j"), QStringLiteral("-") + tag, file});
    if (!p.waitForFinished(60000) || p.exitCode() != 0)
        return {QStringLiteral("<exiftool failed: %1>").arg(QString::fromUtf8(p.readAllStandardError()))};
    const QJsonObject o = QJsonDocument::fromJson(p.readAllStandardOutput()).array().at(0).toObject();
    const QString name = tag.section(QLatin1Char(':'), -1);
    const QJsonValue v = o.value(name);
    if (v.isArray())
        return v.toVariant().toStringList();
    return v.isUndefined() ? QStringList() : QStringList{v.toVariant().toString()};
}

} // namespace

class TestXmp : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void exportMergesAndKeepsOriginals();
    void unwritableFolderFailsForItsFileOnly();
    void windowMenuAsksThenWrites();

private:
    // A photo in folder (created), returned with its canonical path.
    QString makePhoto(const QString &folder, const QString &name, quint32 seed);
    // Adds the photo to the catalog with the labels given as (kind, text) pairs.
    void label(const QString &path, const QList<std::pair<QString, QString>> &labels);
    test::CliRun cli(const QStringList &args, const std::function<void()> &childSetup = {});

    QString m_cli;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_media;
};

void TestXmp::initTestCase()
{
    test::initGuiTest();
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("exiftool")).isEmpty(),
             "exiftool is needed (scripts/install-deps installs it)");
}

void TestXmp::init()
{
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_media, QStringLiteral("photos")));
}

QString TestXmp::makePhoto(const QString &folder, const QString &name, quint32 seed)
{
    QDir().mkpath(folder);
    const QString path = QFileInfo(folder).canonicalFilePath() + QLatin1Char('/') + name;
    if (!test::randomImage(64, 48, seed).save(path, "JPEG"))
        return {};
    // An old mtime, so that any write would show.
    QFile f(path);
    if (f.open(QIODevice::ReadWrite))
        f.setFileTime(QDateTime(QDate(2020, 1, 2), QTime(3, 4, 5), Qt::UTC), QFileDevice::FileModificationTime);
    return path;
}

void TestXmp::label(const QString &path, const QList<std::pair<QString, QString>> &labels)
{
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened, qPrintable(opened.error));
    catalog::Item item;
    item.path = path;
    item.size = QFileInfo(path).size();
    item.mtimeMs = QFileInfo(path).lastModified().toMSecsSinceEpoch();
    const std::int64_t id = opened.catalog->upsertItem(item);
    for (const auto &[kind, text] : labels) {
        catalog::Label l;
        l.itemId = id;
        l.kind = kind;
        l.text = text;
        if (kind == QLatin1String("qa"))
            l.answer = QStringLiteral("green");
        opened.catalog->addLabel(l);
    }
}

test::CliRun TestXmp::cli(const QStringList &args, const std::function<void()> &childSetup)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("UNISEARCH_DATA_DIR"), m_data);
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), m_tmp->filePath(QStringLiteral("config")));
    env.insert(QStringLiteral("UNISEARCH_CPU_FEATURES"), QStringLiteral("none")); // auto = float32 (reference numbers)
    env.insert(QStringLiteral("XDG_CACHE_HOME"), m_tmp->filePath(QStringLiteral("cache")));
    env.insert(QStringLiteral("HOME"), m_tmp->path());
    env.remove(QStringLiteral("DISPLAY"));
    return test::runProgram(m_cli, QStringList{QStringLiteral("labels"), QStringLiteral("export-xmp")} + args, env,
                            120000, childSetup);
}

void TestXmp::exportMergesAndKeepsOriginals()
{
    const QString shrek = makePhoto(m_media, QStringLiteral("shrek.jpg"), 1);
    const QString donkey = makePhoto(m_media, QStringLiteral("donkey.jpg"), 2);
    const QString fiona = makePhoto(m_media, QStringLiteral("fiona.jpg"), 3);
    const QString plain = makePhoto(m_media, QStringLiteral("plain.jpg"), 4);
    QVERIFY(!shrek.isEmpty() && !donkey.isEmpty() && !fiona.isEmpty() && !plain.isEmpty());
    label(shrek, {{QStringLiteral("name"), QStringLiteral("Shrek")},
                  {QStringLiteral("caption"), QStringLiteral("a green ogre in a swamp")},
                  {QStringLiteral("qa"), QStringLiteral("what colour is he?")},
                  {QStringLiteral("name"), QStringLiteral("Fiona")}});
    label(donkey, {{QStringLiteral("name"), QStringLiteral("Donkey")}});
    label(fiona, {{QStringLiteral("name"), QStringLiteral("Fiona")}});
    label(plain, {{QStringLiteral("caption"), QStringLiteral("a plain picture")}});
    // A person's own sidecars, written by exiftool: keywords and a title to keep.
    QCOMPARE(QProcess::execute(QStringLiteral("exiftool"),
                               {QStringLiteral("-q"), QStringLiteral("-XMP-dc:Subject=Holiday"),
                                QStringLiteral("-XMP-dc:Subject=Beach"), QStringLiteral("-XMP-dc:Title=Mine"),
                                donkey + QStringLiteral(".xmp")}),
             0);
    QCOMPARE(QProcess::execute(QStringLiteral("exiftool"),
                               {QStringLiteral("-q"), QStringLiteral("-XMP-dc:Subject=Fiona"), fiona + QStringLiteral(".xmp")}),
             0);
    QStringList photos{shrek, donkey, fiona, plain};
    QList<QByteArray> bytes;
    QList<QDateTime> mtimes;
    for (const QString &p : photos) {
        bytes << readAll(p);
        mtimes << QFileInfo(p).lastModified();
    }
    const QByteArray donkeySidecar = readAll(donkey + QStringLiteral(".xmp"));
    const QByteArray fionaSidecar = readAll(fiona + QStringLiteral(".xmp"));

    // --dry-run: the plan, nothing written.
    const test::CliRun dry = cli({QStringLiteral("--dry-run"), QStringLiteral("--json")});
    VERIFY_RUN(dry, 0);
    const QJsonObject plan = dry.json();
    QCOMPARE(plan.value(QStringLiteral("written")).toInt(), 2);
    QCOMPARE(plan.value(QStringLiteral("unchanged")).toInt(), 1);
    QCOMPARE(plan.value(QStringLiteral("files")).toArray().size(), 3);  // no names on plain.jpg
    QCOMPARE(plan.value(QStringLiteral("files")).toArray().at(0).toObject().value(QStringLiteral("status")).toString(),
             QStringLiteral("wouldWrite"));
    QVERIFY(!QFileInfo::exists(shrek + QStringLiteral(".xmp")));
    QVERIFY(!QFileInfo::exists(plain + QStringLiteral(".xmp")));
    QCOMPARE(readAll(donkey + QStringLiteral(".xmp")), donkeySidecar);

    const test::CliRun run = cli({});
    VERIFY_RUN(run, 0);
    QVERIFY2(run.out.contains(QStringLiteral("wrote ") + shrek + QStringLiteral(".xmp: Shrek, Fiona")), qPrintable(run.out));
    QCOMPARE(exiftoolList(shrek + QStringLiteral(".xmp"), QStringLiteral("XMP-dc:Subject")),
             (QStringList{QStringLiteral("Shrek"), QStringLiteral("Fiona")}));
    QCOMPARE(exiftoolList(shrek + QStringLiteral(".xmp"), QStringLiteral("XMP-lr:HierarchicalSubject")),
             (QStringList{QStringLiteral("Shrek"), QStringLiteral("Fiona")}));
    QCOMPARE(exiftoolList(donkey + QStringLiteral(".xmp"), QStringLiteral("XMP-dc:Subject")),
             (QStringList{QStringLiteral("Holiday"), QStringLiteral("Beach"), QStringLiteral("Donkey")}));
    // darktable and digiKam read the hierarchical lists first: the person's keywords are there too.
    QCOMPARE(exiftoolList(donkey + QStringLiteral(".xmp"), QStringLiteral("XMP-lr:HierarchicalSubject")),
             (QStringList{QStringLiteral("Holiday"), QStringLiteral("Beach"), QStringLiteral("Donkey")}));
    QCOMPARE(exiftoolList(donkey + QStringLiteral(".xmp"), QStringLiteral("XMP-digiKam:TagsList")),
             (QStringList{QStringLiteral("Holiday"), QStringLiteral("Beach"), QStringLiteral("Donkey")}));
    QCOMPARE(exiftoolList(donkey + QStringLiteral(".xmp"), QStringLiteral("XMP-dc:Title")), QStringList{QStringLiteral("Mine")});
    QCOMPARE(readAll(fiona + QStringLiteral(".xmp")), fionaSidecar);  // already had the name
    QVERIFY(!QFileInfo::exists(plain + QStringLiteral(".xmp")));      // captions are not keywords
    for (qsizetype n = 0; n < photos.size(); ++n) {
        QCOMPARE(readAll(photos[n]), bytes[n]);
        QCOMPARE(QFileInfo(photos[n]).lastModified(), mtimes[n]);
    }

    // Again: every sidecar already holds its names.
    const QByteArray shrekSidecar = readAll(shrek + QStringLiteral(".xmp"));
    const test::CliRun again = cli({QStringLiteral("--json")});
    VERIFY_RUN(again, 0);
    QCOMPARE(again.json().value(QStringLiteral("unchanged")).toInt(), 3);
    QCOMPARE(readAll(shrek + QStringLiteral(".xmp")), shrekSidecar);
}

void TestXmp::unwritableFolderFailsForItsFileOnly()
{
    const QString locked = m_media + QStringLiteral("/locked");
    const QString open = makePhoto(m_media, QStringLiteral("open.jpg"), 5);
    const QString closed = makePhoto(locked, QStringLiteral("closed.jpg"), 6);
    const QString foreign = makePhoto(m_media, QStringLiteral("foreign.jpg"), 7);
    QVERIFY(!open.isEmpty() && !closed.isEmpty() && !foreign.isEmpty());
    label(open, {{QStringLiteral("name"), QStringLiteral("Puss")}});
    label(closed, {{QStringLiteral("name"), QStringLiteral("Dragon")}});
    label(foreign, {{QStringLiteral("name"), QStringLiteral("Farquaad")}});
    // A "sidecar" that is not XMP is left alone.
    {
        QFile f(foreign + QStringLiteral(".xmp"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("my own notes, not XMP\n");
    }
    std::function<void()> setup;
    if (::geteuid() == 0) {
        // Root writes anywhere: run as nobody, who may write everything but the locked folder.
        QCOMPARE(QProcess::execute(QStringLiteral("chmod"), {QStringLiteral("-R"), QStringLiteral("a+rwX"), m_tmp->path()}), 0);
        setup = becomeNobody;
    }
    QVERIFY(QFile::setPermissions(locked, QFileDevice::ReadOwner | QFileDevice::ExeOwner | QFileDevice::ReadGroup
                                              | QFileDevice::ExeGroup | QFileDevice::ReadOther | QFileDevice::ExeOther));

    const test::CliRun run = cli({QStringLiteral("--json")}, setup);
    QFile::setPermissions(locked, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    VERIFY_RUN(run, 1);
    const QJsonObject o = run.json();
    QCOMPARE(o.value(QStringLiteral("written")).toInt(), 1);
    QCOMPARE(o.value(QStringLiteral("failed")).toInt(), 2);
    QVERIFY2(run.err.contains(closed + QStringLiteral(".xmp")), qPrintable(run.err));
    QVERIFY2(run.err.contains(foreign + QStringLiteral(".xmp")), qPrintable(run.err));
    QCOMPARE(exiftoolList(open + QStringLiteral(".xmp"), QStringLiteral("XMP-dc:Subject")), QStringList{QStringLiteral("Puss")});
    QVERIFY(!QFileInfo::exists(closed + QStringLiteral(".xmp")));
    QCOMPARE(readAll(foreign + QStringLiteral(".xmp")), QByteArray("my own notes, not XMP\n"));
}

void TestXmp::windowMenuAsksThenWrites()
{
    const QString shrek = makePhoto(m_media, QStringLiteral("shrek.jpg"), 8);
    QVERIFY(!shrek.isEmpty());
    label(shrek, {{QStringLiteral("name"), QStringLiteral("Shrek")}});
    engine::Engine engine;
    engine::Engine::Options options;
    options.dataDir = m_data;
    options.device = QStringLiteral("cpu");
    options.threads = 1;
    QVERIFY2(engine.open(options), qPrintable(engine.errorString()));
    const std::unique_ptr<ui::MainWindow> window = test::openWindow(&engine);
    QVERIFY(window);
    auto *action = window->findChild<QAction *>(QStringLiteral("actionExportXmp"));
    QVERIFY(action);
    action->trigger();
    // It asks first, saying how many files, and has written nothing yet.
    QMessageBox *ask = nullptr;
    QTRY_VERIFY((ask = window->findChild<QMessageBox *>(QStringLiteral("xmpExportConfirm"))) != nullptr);
    QVERIFY2(ask->text().contains(QStringLiteral("1 sidecar file")), qPrintable(ask->text()));
    QVERIFY(!QFileInfo::exists(shrek + QStringLiteral(".xmp")));
    ask->button(QMessageBox::Yes)->click();
    QMessageBox *done = nullptr;
    QTRY_VERIFY((done = window->findChild<QMessageBox *>(QStringLiteral("xmpExportResult"))) != nullptr);
    QVERIFY2(done->text().contains(QStringLiteral("Wrote 1 sidecar file")), qPrintable(done->text()));
    QCOMPARE(exiftoolList(shrek + QStringLiteral(".xmp"), QStringLiteral("XMP-dc:Subject")), QStringList{QStringLiteral("Shrek")});
    done->close();
}

QTEST_MAIN(TestXmp)
#include "tst_xmp.moc"
