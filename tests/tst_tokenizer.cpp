// Tokenizer, text clean-up and SHA-256 against the reference fixture
// (uniadapter/tokenizer/case.json, produced by the official BLIP/UniAdapter code).
#include "model/sha256.h"
#include "model/textclean.h"
#include "model/tokenizer.h"
#include "support/fixtures.h"

#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch::model;
using unisearch::test::readCase;
using unisearch::test::vocabPath;

namespace {

QString idsToString(const std::vector<int64_t> &ids)
{
    QStringList parts;
    for (int64_t id : ids)
        parts << QString::number(id);
    return parts.join(QLatin1Char(' '));
}

std::vector<int64_t> idsOf(const nlohmann::json &value)
{
    return value.get<std::vector<int64_t>>();
}

QByteArray qtSha256(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    QCryptographicHash hash(QCryptographicHash::Sha256);
    hash.addData(&f);
    return hash.result().toHex();
}

} // namespace

class TestTokenizer : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void vocabulary();
    void fixtureCases_data();
    void fixtureCases();
    void batchPadsToLongest();
    void batchPadsToMaxLength();
    void truncationLimits();
    void longWordLimitOption();
    void hugeWordIsLinear();
    void invalidUtf8();
    void decode();
    void wrongHashIsRejected();
    void missingVocabIsRejected();
    void vocabWithoutSpecialTokens();
    void sha256KnownVectors();
    void sha256File();

private:
    std::optional<Tokenizer> m_tokenizer;
    nlohmann::json m_case;
};

void TestTokenizer::initTestCase()
{
    // A missing fixture or vocab must fail, never skip.
    m_case = readCase(QStringLiteral("tokenizer"));
    QVERIFY(m_case.contains("cases"));
    QVERIFY(m_case["cases"].size() > 0);
    m_tokenizer = Tokenizer::fromFile(vocabPath().toStdString());
}

void TestTokenizer::vocabulary()
{
    // The shipped vocab is the pinned file, hashed here by Qt, independently of sha256.cpp.
    QCOMPARE(qtSha256(vocabPath()), QByteArray(kBertBaseUncasedSha256));
    const Tokenizer &t = *m_tokenizer;
    QCOMPARE(t.vocabSize(), size_t(30524));
    const auto &special = m_case["architecture"]["special_tokens"];
    QCOMPARE(t.padId(), special["pad"].get<int64_t>());
    QCOMPARE(t.clsId(), special["cls"].get<int64_t>());
    QCOMPARE(t.sepId(), special["sep"].get<int64_t>());
    QCOMPARE(t.unkId(), special["unk"].get<int64_t>());
    QCOMPARE(t.decId(), special["dec_bos"].get<int64_t>());
    QCOMPARE(t.encId(), special["enc"].get<int64_t>());
    QCOMPARE(t.tokenId("[DEC]"), kDecId);
    QCOMPARE(t.tokenId("[ENC]"), kEncId);
    QCOMPARE(t.token(kClsId), std::string("[CLS]"));
    QCOMPARE(t.tokenId("no-such-token-xyz"), kUnkId);
    QVERIFY_THROWS_EXCEPTION(TokenizerError, t.token(30524));
    QVERIFY_THROWS_EXCEPTION(TokenizerError, t.token(-1));
}

void TestTokenizer::fixtureCases_data()
{
    QTest::addColumn<int>("index");
    const auto &cases = m_case["cases"];
    for (size_t i = 0; i < cases.size(); ++i) {
        const QString text = QString::fromStdString(cases[i]["text"].get<std::string>());
        QTest::newRow(qPrintable(QStringLiteral("%1: %2").arg(i).arg(text.left(24).simplified())))
            << int(i);
    }
}

void TestTokenizer::fixtureCases()
{
    QFETCH(int, index);
    const auto &c = m_case["cases"][size_t(index)];
    const std::string text = c["text"].get<std::string>();
    const Tokenizer &t = *m_tokenizer;

    QCOMPARE(idsToString(t.encode(text)), idsToString(idsOf(c["ids"])));
    QCOMPARE(idsToString(t.encode(text, 35, true)), idsToString(idsOf(c["ids_max35"])));

    const std::string caption = preCaption(text, 30);
    QCOMPARE(QString::fromStdString(caption),
             QString::fromStdString(c["pre_caption_30"].get<std::string>()));
    QCOMPARE(idsToString(t.encode(caption)), idsToString(idsOf(c["pre_caption_30_ids"])));
    QCOMPARE(QString::fromStdString(preQuestion(text)),
             QString::fromStdString(c["pre_question"].get<std::string>()));

    // tokenize() is the same wordpieces as strings.
    const std::vector<std::string> pieces = t.tokenize(text);
    const std::vector<int64_t> ids = idsOf(c["ids"]);
    QCOMPARE(pieces.size() + 2, ids.size());
    for (size_t i = 0; i < pieces.size(); ++i)
        QCOMPARE(t.tokenId(pieces[i]), ids[i + 1]);
}

void TestTokenizer::batchPadsToLongest()
{
    const auto &cases = m_case["cases"];
    std::vector<std::string> texts;
    std::vector<std::vector<int64_t>> expected;
    size_t longest = 0;
    // Short ones only, so that padding (not truncation) is what is tested.
    for (const auto &c : cases) {
        std::vector<int64_t> ids = idsOf(c["ids"]);
        if (ids.size() > 20)
            continue;
        texts.push_back(c["text"].get<std::string>());
        longest = std::max(longest, ids.size());
        expected.push_back(std::move(ids));
    }
    QVERIFY(texts.size() >= 3);
    QVERIFY(longest < 35);

    const EncodedBatch batch = m_tokenizer->encodeBatch(texts, 35, true);
    QCOMPARE(batch.rows, int(texts.size()));
    QCOMPARE(batch.cols, int(longest));
    QCOMPARE(batch.ids.size(), texts.size() * longest);
    QCOMPARE(batch.mask.size(), texts.size() * longest);
    for (size_t r = 0; r < texts.size(); ++r) {
        for (size_t col = 0; col < longest; ++col) {
            const bool real = col < expected[r].size();
            QCOMPARE(batch.ids[r * longest + col], real ? expected[r][col] : int64_t(0));
            QCOMPARE(batch.mask[r * longest + col], int64_t(real ? 1 : 0));
        }
    }

    const EncodedBatch empty = m_tokenizer->encodeBatch({}, 35, true);
    QCOMPARE(empty.rows, 0);
    QCOMPARE(empty.cols, 0);
    QVERIFY(empty.ids.empty());
}

void TestTokenizer::batchPadsToMaxLength()
{
    const auto &cases = m_case["cases"];
    std::vector<std::string> texts;
    for (const auto &c : cases)
        texts.push_back(c["text"].get<std::string>());
    const EncodedBatch batch = m_tokenizer->encodeBatch(texts, 35, false);
    QCOMPARE(batch.rows, int(texts.size()));
    QCOMPARE(batch.cols, 35);
    for (size_t r = 0; r < texts.size(); ++r) {
        const std::vector<int64_t> row(batch.ids.begin() + std::ptrdiff_t(r * 35),
                                       batch.ids.begin() + std::ptrdiff_t((r + 1) * 35));
        QCOMPARE(idsToString(row), idsToString(idsOf(cases[r]["ids_max35"])));
        for (size_t col = 0; col < 35; ++col)
            QCOMPARE(batch.mask[r * 35 + col], int64_t(row[col] != 0 ? 1 : 0));
    }
}

void TestTokenizer::truncationLimits()
{
    const Tokenizer &t = *m_tokenizer;
    QCOMPARE(idsToString(t.encode("a dog on the beach", 2, true)), QStringLiteral("101 102"));
    QCOMPARE(idsToString(t.encode("a dog", 0, true)), idsToString(t.encode("a dog")));
    // Truncation without padding keeps [SEP] last.
    const std::vector<int64_t> cut = t.encode("a a a a a a a a", 5, false);
    QCOMPARE(idsToString(cut), QStringLiteral("101 1037 1037 1037 102"));
    QVERIFY_THROWS_EXCEPTION(TokenizerError, t.encode("a", 1, true));
    QVERIFY_THROWS_EXCEPTION(TokenizerError, t.encode("a", -3, false));
}

void TestTokenizer::longWordLimitOption()
{
    // The fixture's 120-character word is split into wordpieces with the default options;
    // BERT's reference limit of 100 turns the same word into one [UNK].
    std::string word;
    for (const auto &c : m_case["cases"]) {
        const std::string text = c["text"].get<std::string>();
        if (text.size() > 120 && text.rfind("xxxx", 0) == 0)
            word = text;
    }
    QVERIFY(!word.empty());
    TokenizerOptions options;
    options.maxInputCharsPerWord = 100;
    const Tokenizer bert = Tokenizer::fromFile(vocabPath().toStdString(), kBertBaseUncasedSha256, options);
    QCOMPARE(idsToString(bert.encode(word)), QStringLiteral("101 100 2203 102"));
}

void TestTokenizer::hugeWordIsLinear()
{
    // 100,000 x's: "xx" then "##xx" pieces, as the fixture's 120-character word shows
    // (22038 = "xx", 20348 = "##xx"); must be quick despite greedy longest-match.
    const std::string word(100000, 'x');
    QElapsedTimer timer;
    timer.start();
    const std::vector<int64_t> ids = m_tokenizer->encode(word);
    qInfo("100k-character word: %lld ms", static_cast<long long>(timer.elapsed()));
    QCOMPARE(ids.size(), size_t(50000 + 2));
    QCOMPARE(ids[1], int64_t(22038));
    QVERIFY(std::all_of(ids.begin() + 2, ids.end() - 1, [](int64_t id) { return id == 20348; }));
    QVERIFY(timer.elapsed() < 5000);
}

void TestTokenizer::invalidUtf8()
{
    // Invalid bytes read as U+FFFD, which BERT's clean-up drops.
    const Tokenizer &t = *m_tokenizer;
    QCOMPARE(idsToString(t.encode("\xff\xfe dog \xc3")), idsToString(t.encode("dog")));
    QCOMPARE(idsToString(t.encode(std::string("a\0b", 3))), idsToString(t.encode("ab")));
    QCOMPARE(QString::fromStdString(preCaption("\xff" "Dog")), QString::fromUtf8("\xef\xbf\xbd" "dog"));
}

void TestTokenizer::decode()
{
    const Tokenizer &t = *m_tokenizer;
    // Wordpieces glued back, specials skipped, HuggingFace's spacing clean-up applied.
    for (const auto &c : m_case["cases"]) {
        const std::string text = c["text"].get<std::string>();
        if (text.rfind("supercali", 0) == 0) {
            QCOMPARE(QString::fromStdString(t.decode(idsOf(c["ids_max35"]))),
                     QStringLiteral("supercalifragilisticexpialidocious antidisestablishmentarianism"));
        }
        if (text == "Where's the cat?")
            QCOMPARE(QString::fromStdString(t.decode(idsOf(c["ids"]))), QStringLiteral("where's the cat?"));
    }
    QCOMPARE(QString::fromStdString(t.decode({kDecId, kEncId, kPadId})), QString());
    QVERIFY_THROWS_EXCEPTION(TokenizerError, t.decode({101, 999999}));
}

void TestTokenizer::wrongHashIsRejected()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("vocab.txt"));
    {
        QFile src(vocabPath());
        QVERIFY(src.open(QIODevice::ReadOnly));
        QByteArray content = src.readAll();
        content.append("extraword\n"); // a different file, still a usable vocab
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(content);
    }
    const QByteArray actual = qtSha256(path);
    try {
        Tokenizer::fromFile(path.toStdString());
        QFAIL("a vocabulary with the wrong hash was accepted");
    } catch (const TokenizerError &e) {
        const QString message = QString::fromStdString(e.what());
        QVERIFY2(message.contains(QLatin1String(kBertBaseUncasedSha256)), qPrintable(message));
        QVERIFY2(message.contains(QString::fromLatin1(actual)), qPrintable(message));
        QVERIFY2(message.contains(path), qPrintable(message));
    }
    // With the check disabled the same file loads, with [DEC]/[ENC] after the extra line.
    const Tokenizer t = Tokenizer::fromFile(path.toStdString(), std::string());
    QCOMPARE(t.vocabSize(), size_t(30525));
    QCOMPARE(t.tokenId("extraword"), int64_t(30522));
    QCOMPARE(t.decId(), int64_t(30523));
    // The expected hash may be given in upper case.
    const Tokenizer upper = Tokenizer::fromFile(path.toStdString(), actual.toUpper().toStdString());
    QCOMPARE(upper.vocabSize(), size_t(30525));
}

void TestTokenizer::missingVocabIsRejected()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("no-such-vocab.txt"));
    try {
        Tokenizer::fromFile(path.toStdString());
        QFAIL("a missing vocabulary was accepted");
    } catch (const TokenizerError &e) {
        QVERIFY2(QString::fromStdString(e.what()).contains(path), e.what());
    }
    // A directory is not a vocabulary either.
    QVERIFY_THROWS_EXCEPTION(TokenizerError, Tokenizer::fromFile(dir.path().toStdString(), ""));
}

void TestTokenizer::vocabWithoutSpecialTokens()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("tiny.txt"));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("[PAD]\n[UNK]\nhello\n");
    f.close();
    try {
        Tokenizer::fromFile(path.toStdString(), "");
        QFAIL("a vocabulary without [CLS] was accepted");
    } catch (const TokenizerError &e) {
        QVERIFY2(QString::fromStdString(e.what()).contains(QLatin1String("[CLS]")), e.what());
    }
}

void TestTokenizer::sha256KnownVectors()
{
    // FIPS 180-2 test vectors.
    QCOMPARE(QString::fromStdString(sha256Hex("", 0)),
             QStringLiteral("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    QCOMPARE(QString::fromStdString(sha256Hex("abc", 3)),
             QStringLiteral("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

void TestTokenizer::sha256File()
{
    QCOMPARE(QByteArray::fromStdString(unisearch::model::sha256File(vocabPath().toStdString())),
             qtSha256(vocabPath()));
    QTemporaryDir dir;
    // Larger than the 1 MiB read buffer, so that several blocks are hashed.
    const QString path = dir.filePath(QStringLiteral("big.bin"));
    QByteArray data(3 * 1024 * 1024 + 17, '\0');
    for (qsizetype i = 0; i < data.size(); ++i)
        data[i] = char((i * 131) & 0xff);
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(data);
    f.close();
    QCOMPARE(QByteArray::fromStdString(unisearch::model::sha256File(path.toStdString())),
             QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex());
    QVERIFY_THROWS_EXCEPTION(std::runtime_error,
                             unisearch::model::sha256File(dir.filePath(QStringLiteral("missing")).toStdString()));
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, unisearch::model::sha256File(dir.path().toStdString()));
}

QTEST_GUILESS_MAIN(TestTokenizer)
#include "tst_tokenizer.moc"
