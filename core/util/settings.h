#pragma once
// Typed settings over QSettings: each setting is one key with its type, default and
// validity check, declared once below. A missing, unconvertible or invalid stored value
// reads as the default, so a hand-edited config file can never put the program in a
// bad state. Stored in the user's config dir (~/.config/unisearch/unisearch.conf).
#include <QByteArray>
#include <QSettings>
#include <QString>
#include <QStringList>
#include <QVariant>

#include <memory>

namespace unisearch {

template <typename T>
struct SettingKey {
    const char *name;
    T defaultValue;
    bool (*isValid)(const T &) = nullptr;  // null: every value of T is valid
};

namespace settings {

// Compute device: auto (CUDA when available, else CPU), cpu or cuda.
inline const SettingKey<QString> device{"engine/device", QStringLiteral("auto"), [](const QString &v) {
    return v == QLatin1String("auto") || v == QLatin1String("cpu") || v == QLatin1String("cuda");
}};
// LibTorch intra-op threads; 0 = the number of cores.
inline const SettingKey<int> threads{"engine/threads", 0, [](const int &v) { return v >= 0 && v <= 1024; }};
// Inference precision: auto (bfloat16 on CUDA and on a CPU where it is faster than
// float32: AMX, or AVX512_BF16 on AMD; float32 elsewhere: engine::resolvePrecision),
// float32, float16 (CUDA) or bfloat16.
inline const SettingKey<QString> precision{"engine/precision", QStringLiteral("auto"), [](const QString &v) {
    return v == QLatin1String("auto") || v == QLatin1String("float32") || v == QLatin1String("float16") ||
           v == QLatin1String("bfloat16");
}};
// Re-rank the best search hits with the ITM head (slower, more precise). Off by default,
// like the CLI's --rerank, so that both give the same results out of the box.
inline const SettingKey<bool> rerank{"search/rerank", false};
// Text in pictures: the OCR pass after indexing (index/ocr), in these Tesseract languages.
inline const SettingKey<bool> ocr{"index/ocr", true};
inline const SettingKey<QStringList> ocrLanguages{"index/ocrLanguages", QStringList{QStringLiteral("eng")}};
// How many results a search shows.
inline const SettingKey<int> resultCount{"search/resultCount", 100, [](const int &v) { return v >= 1 && v <= 10000; }};
// Edge of a result thumbnail, in pixels.
inline const SettingKey<int> thumbnailSize{"ui/thumbnailSize", 192, [](const int &v) { return v >= 48 && v <= 1024; }};
inline const SettingKey<QByteArray> windowGeometry{"ui/windowGeometry", QByteArray()};
inline const SettingKey<QByteArray> windowState{"ui/windowState", QByteArray()};
// Folder last opened in a file dialog (Add folder, Import model).
inline const SettingKey<QString> lastFolder{"ui/lastFolder", QString()};

} // namespace settings

class Settings
{
public:
    // The user's settings (needs the application identity, see datadir.h).
    Settings();
    // Settings in an explicit INI file (portable installs, tests).
    explicit Settings(const QString &iniFile);
    ~Settings();
    Settings(const Settings &) = delete;
    Settings &operator=(const Settings &) = delete;

    template <typename T>
    T value(const SettingKey<T> &key) const
    {
        QVariant v = m_settings->value(QLatin1String(key.name));
        if (!v.isValid() || !v.convert(QMetaType::fromType<T>()))
            return key.defaultValue;
        T t = v.value<T>();
        if (key.isValid && !key.isValid(t))
            return key.defaultValue;
        return t;
    }

    // Returns false (and stores nothing) for a value the key rejects.
    template <typename T>
    bool setValue(const SettingKey<T> &key, const T &value)
    {
        if (key.isValid && !key.isValid(value))
            return false;
        m_settings->setValue(QLatin1String(key.name), QVariant::fromValue(value));
        return true;
    }

    template <typename T>
    void reset(const SettingKey<T> &key)
    {
        m_settings->remove(QLatin1String(key.name));
    }

    QString fileName() const;
    void sync();

private:
    std::unique_ptr<QSettings> m_settings;
};

} // namespace unisearch
