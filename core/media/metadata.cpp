#include "media/metadata.h"

#include "media/ffmpeg_p.h"
#include "media/filepath.h"

#include <QDateTime>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // Exiv2 0.27's std::auto_ptr
#endif
#include <exiv2/exiv2.hpp>
#ifdef UNISEARCH_HAVE_LIBHEIF
#include <libheif/heif.h>
#endif

#include <cctype>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>
#include <memory>

// Hand-written parsers: the date strings are fixed-width EXIF/ISO forms and must be
// validated field by field (QDateTime::fromString accepts less and reports less).

namespace unisearch::media {

namespace {

constexpr int maxOffsetMin = 14 * 60;
constexpr qsizetype maxTextLength = 64;

// Digits at s[pos, pos+n) as a number; -1 when any is not a digit.
int digits(std::string_view s, size_t pos, size_t n)
{
    if (pos + n > s.size())
        return -1;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(s[i])))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

std::string_view trimmed(std::string_view s)
{
    auto junk = [](char c) { return c == '\0' || std::isspace(static_cast<unsigned char>(c)); };
    while (!s.empty() && junk(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && junk(s.back()))
        s.remove_suffix(1);
    return s;
}

// Wall-clock ms of a validated date and time (year 1900..2100), else nullopt.
std::optional<std::int64_t> wallMs(int y, int mo, int d, int h, int mi, int sec)
{
    if (y < 1900 || y > 2100 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return std::nullopt;
    const QDate date(y, mo, d);
    if (!date.isValid())
        return std::nullopt;
    return QDateTime(date, QTime(h, mi, sec), Qt::UTC).toMSecsSinceEpoch();
}

// "YYYY?MM?DD?HH:MM:SS" with the given date separators at fixed places.
std::optional<std::int64_t> parseFixed(std::string_view s, std::string_view dateSeps)
{
    if (s.size() < 19 || dateSeps.find(s[4]) == std::string_view::npos || s[7] != s[4]
        || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    return wallMs(digits(s, 0, 4), digits(s, 5, 2), digits(s, 8, 2), digits(s, 11, 2), digits(s, 14, 2),
                  digits(s, 17, 2));
}

QString cleanText(const std::string &raw)
{
    QString out;
    for (const QChar c : QString::fromUtf8(raw.data(), static_cast<qsizetype>(raw.size()))) {
        if (out.size() >= maxTextLength)
            break;
        if (c.isPrint())
            out += c;
    }
    return out.simplified();
}

void setTaken(CaptureMetadata &m, std::int64_t wall, std::optional<int> offset, CaptureSource source)
{
    m.takenLocalMs = wall;
    m.takenOffsetMin = offset;
    m.source = source;
}

} // namespace

std::optional<std::int64_t> parseExifDateTime(std::string_view s)
{
    s = trimmed(s);
    if (s.size() != 19)
        return std::nullopt;
    return parseFixed(s, ":-");
}

std::optional<int> parseUtcOffset(std::string_view s)
{
    s = trimmed(s);
    if (s == "Z")
        return 0;
    if (s.size() < 3 || (s[0] != '+' && s[0] != '-'))
        return std::nullopt;
    const int h = digits(s, 1, 2);
    int mi = 0;
    if (s.size() == 6 && s[3] == ':')
        mi = digits(s, 4, 2);
    else if (s.size() == 5)
        mi = digits(s, 3, 2);
    else if (s.size() != 3)
        return std::nullopt;
    if (h < 0 || mi < 0 || mi > 59)
        return std::nullopt;
    const int total = (h * 60 + mi) * (s[0] == '-' ? -1 : 1);
    if (std::abs(total) > maxOffsetMin)
        return std::nullopt;
    return total;
}

std::optional<int> parseSubSeconds(std::string_view s)
{
    s = trimmed(s);
    if (s.empty() || s.size() > 9)
        return std::nullopt;
    int ms = 0;
    for (size_t i = 0; i < 3; ++i) {
        const int digit = i < s.size() ? digits(s, i, 1) : 0;
        if (digit < 0)
            return std::nullopt;
        ms = ms * 10 + digit;
    }
    if (digits(s, 0, s.size()) < 0)
        return std::nullopt;
    return ms;
}

std::optional<IsoDateTime> parseIsoDateTime(std::string_view s)
{
    s = trimmed(s);
    if (s.size() > 40)
        return std::nullopt;
    const std::optional<std::int64_t> wall = parseFixed(s, "-:");
    if (!wall)
        return std::nullopt;
    IsoDateTime out{*wall, std::nullopt};
    size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        size_t end = pos + 1;
        while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end])))
            ++end;
        const std::optional<int> ms = parseSubSeconds(s.substr(pos + 1, std::min<size_t>(end - pos - 1, 9)));
        if (!ms)
            return std::nullopt;
        out.wallMs += *ms;
        pos = end;
    }
    if (pos < s.size()) {
        out.offsetMin = parseUtcOffset(s.substr(pos));
        if (!out.offsetMin)
            return std::nullopt;
    }
    return out;
}

std::optional<GeoPoint> parseIso6709(std::string_view s)
{
    s = trimmed(s);
    if (s.size() > 64)
        return std::nullopt;
    // Two signed decimal numbers, then an optional altitude, then '/'.
    double values[2] = {0, 0};
    size_t pos = 0;
    for (double &v : values) {
        if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-'))
            return std::nullopt;
        size_t end = pos + 1;
        while (end < s.size() && (std::isdigit(static_cast<unsigned char>(s[end])) || s[end] == '.'))
            ++end;
        bool ok = false;
        v = QString::fromLatin1(s.data() + pos, static_cast<qsizetype>(end - pos)).toDouble(&ok);
        if (!ok || !std::isfinite(v) || end == pos + 1)
            return std::nullopt;
        pos = end;
    }
    if (std::abs(values[0]) > 90 || std::abs(values[1]) > 180)
        return std::nullopt;
    return GeoPoint{values[0], values[1]};
}

namespace {

void initExiv2()
{
    static std::once_flag once;
    std::call_once(once, [] {
        Exiv2::LogMsg::setLevel(Exiv2::LogMsg::mute);  // a damaged file's warnings are not ours to print
        Exiv2::XmpParser::initialize();                // not thread-safe: once, before any reader
#ifdef EXV_ENABLE_BMFF
        Exiv2::enableBMFF(true);  // HEIC/AVIF (ISO base media files)
#endif
    });
}

std::string exifText(const Exiv2::ExifData &exif, const Exiv2::ExifKey &key)
{
    const auto it = exif.findKey(key);
    if (it == exif.end() || it->count() == 0 || it->size() > 256)
        return {};
    return it->toString();
}

// Degrees from three rationals (degrees, minutes, seconds) and a reference letter.
std::optional<double> gpsCoordinate(const Exiv2::ExifData &exif, const char *key, const char *refKey,
                                    char negative, double limit)
{
    const auto it = exif.findKey(Exiv2::ExifKey(key));
    if (it == exif.end() || it->count() != 3)
        return std::nullopt;
    double parts[3];
    for (long i = 0; i < 3; ++i) {
        const Exiv2::Rational r = it->toRational(i);
        if (r.second == 0 || r.first < 0 || r.second < 0)
            return std::nullopt;
        parts[i] = double(r.first) / double(r.second);
    }
    if (parts[1] >= 60 || parts[2] >= 60)
        return std::nullopt;
    double degrees = parts[0] + parts[1] / 60 + parts[2] / 3600;
    const std::string_view ref = trimmed(exifText(exif, Exiv2::ExifKey(refKey)));
    if (ref.size() == 1 && std::toupper(static_cast<unsigned char>(ref[0])) == negative)
        degrees = -degrees;
    else if (ref.size() != 1)
        return std::nullopt;
    if (!std::isfinite(degrees) || std::abs(degrees) > limit)
        return std::nullopt;
    return degrees;
}

// One EXIF date (0x9003 original, 0x9004 digitized) with its offset and sub-seconds tags.
bool exifTime(CaptureMetadata &m, const Exiv2::ExifData &exif, std::uint16_t dateTag, std::uint16_t offsetTag,
              std::uint16_t subSecTag)
{
    const std::optional<std::int64_t> wall = parseExifDateTime(exifText(exif, Exiv2::ExifKey(dateTag, "Photo")));
    if (!wall)
        return false;
    const std::int64_t ms = parseSubSeconds(exifText(exif, Exiv2::ExifKey(subSecTag, "Photo"))).value_or(0);
    setTaken(m, *wall + ms, parseUtcOffset(exifText(exif, Exiv2::ExifKey(offsetTag, "Photo"))),
             CaptureSource::Exif);
    return true;
}

bool xmpTime(CaptureMetadata &m, const Exiv2::XmpData &xmp)
{
    for (const char *key : {"Xmp.exif.DateTimeOriginal", "Xmp.photoshop.DateCreated", "Xmp.xmp.CreateDate"}) {
        const auto it = xmp.findKey(Exiv2::XmpKey(key));
        if (it == xmp.end() || it->size() > 256)
            continue;
        if (const std::optional<IsoDateTime> t = parseIsoDateTime(it->toString())) {
            setTaken(m, t->wallMs, t->offsetMin, CaptureSource::Exif);
            return true;
        }
    }
    return false;
}

void readExif(CaptureMetadata &m, const Exiv2::ExifData &exif)
{
    // 0x9003 DateTimeOriginal, 0x9011 OffsetTimeOriginal, 0x9291 SubSecTimeOriginal;
    // 0x9004 DateTimeDigitized (exiftool's CreateDate), 0x9012, 0x9292.
    if (!exifTime(m, exif, 0x9003, 0x9011, 0x9291))
        exifTime(m, exif, 0x9004, 0x9012, 0x9292);
    m.gpsLat = gpsCoordinate(exif, "Exif.GPSInfo.GPSLatitude", "Exif.GPSInfo.GPSLatitudeRef", 'S', 90);
    m.gpsLon = gpsCoordinate(exif, "Exif.GPSInfo.GPSLongitude", "Exif.GPSInfo.GPSLongitudeRef", 'W', 180);
    if (!m.gpsLat || !m.gpsLon)
        m.gpsLat = m.gpsLon = std::nullopt;
    m.make = cleanText(exifText(exif, Exiv2::ExifKey("Exif.Image.Make")));
    m.model = cleanText(exifText(exif, Exiv2::ExifKey("Exif.Image.Model")));
    const auto it = exif.findKey(Exiv2::ExifKey("Exif.Image.Orientation"));
    if (it != exif.end() && it->count() >= 1) {
        const long o = it->toLong(0);
        if (o >= 1 && o <= 8)
            m.orientation = static_cast<int>(o);
    }
}

#ifdef UNISEARCH_HAVE_LIBHEIF
// Exiv2 0.27 as Debian builds it does not read HEIF/AVIF (its BMFF reader is off): the
// primary image's Exif block through libheif, decoded by Exiv2's Exif parser. Never throws.
bool heifExif(CaptureMetadata &m, const QByteArray &localPath)
{
    try {
        std::unique_ptr<heif_context, decltype(&heif_context_free)> ctx(heif_context_alloc(), &heif_context_free);
        if (!ctx || heif_context_read_from_file(ctx.get(), localPath.constData(), nullptr).code != heif_error_Ok)
            return false;
        heif_image_handle *raw = nullptr;
        if (heif_context_get_primary_image_handle(ctx.get(), &raw).code != heif_error_Ok)
            return false;
        std::unique_ptr<heif_image_handle, decltype(&heif_image_handle_release)> handle(raw,
                                                                                      &heif_image_handle_release);
        heif_item_id id = 0;
        if (heif_image_handle_get_list_of_metadata_block_IDs(handle.get(), "Exif", &id, 1) != 1)
            return false;
        const size_t size = heif_image_handle_get_metadata_size(handle.get(), id);
        if (size < 8 || size > (size_t(4) << 20))
            return false;
        std::vector<Exiv2::byte> data(size);
        if (heif_image_handle_get_metadata(handle.get(), id, data.data()).code != heif_error_Ok)
            return false;
        // The block starts with the big-endian offset of the TIFF header after these 4 bytes.
        const std::uint64_t skip = 4 + (std::uint64_t(data[0]) << 24 | std::uint64_t(data[1]) << 16
                                        | std::uint64_t(data[2]) << 8 | std::uint64_t(data[3]));
        if (skip + 8 > size)
            return false;
        Exiv2::ExifData exif;
        Exiv2::ExifParser::decode(exif, data.data() + skip, static_cast<std::uint32_t>(size - skip));
        readExif(m, exif);
        return !exif.empty();
    } catch (...) {
        return false;
    }
}
#endif

QString describe(const std::exception &e)
{
    return QString::fromUtf8(e.what()).left(200);
}

} // namespace

CaptureMetadata readPhotoMetadata(const QString &path, QString *error)
{
    CaptureMetadata m;
    QString why;
    const QByteArray local = encodeFileName(path);
    try {
        initExiv2();
        auto image = Exiv2::ImageFactory::open(std::string(local.constData(), size_t(local.size())));
        if (!image.get())
            throw std::runtime_error("not a format Exiv2 reads");
        image->readMetadata();
        readExif(m, image->exifData());
        if (!m.takenLocalMs)
            xmpTime(m, image->xmpData());
    } catch (const std::exception &e) {
        why = QStringLiteral("cannot read the photo's metadata: %1").arg(describe(e));
    } catch (...) {
        why = QStringLiteral("cannot read the photo's metadata");
    }
#ifdef UNISEARCH_HAVE_LIBHEIF
    if (!m.takenLocalMs && heifExif(m, local))
        why.clear();
#endif
    if (error)
        *error = why;
    return m;
}

namespace {

const char *tag(const AVDictionary *dict, const char *key)
{
    const AVDictionaryEntry *e = av_dict_get(dict, key, nullptr, 0);
    return e && e->value && std::strlen(e->value) < 256 ? e->value : nullptr;
}

// A tag from the container, else from any stream (QuickTime keeps some per track).
const char *videoTag(const AVFormatContext *fmt, const char *key)
{
    if (const char *v = tag(fmt->metadata, key))
        return v;
    for (unsigned i = 0; i < fmt->nb_streams && i < 64; ++i)
        if (const char *v = tag(fmt->streams[i]->metadata, key))
            return v;
    return nullptr;
}

bool videoTime(CaptureMetadata &m, const AVFormatContext *fmt)
{
    // Apple's creationdate is the local time with its offset: the wall clock as is.
    if (const char *apple = videoTag(fmt, "com.apple.quicktime.creationdate"))
        if (const std::optional<IsoDateTime> t = parseIsoDateTime(apple)) {
            setTaken(m, t->wallMs, t->offsetMin, CaptureSource::Video);
            return true;
        }
    const char *created = videoTag(fmt, "creation_time");
    const std::optional<IsoDateTime> t = created ? parseIsoDateTime(created) : std::nullopt;
    // 1904-01-01 is QuickTime's zero: no time was recorded.
    if (!t || t->wallMs == QDateTime(QDate(1904, 1, 1), QTime(0, 0), Qt::UTC).toMSecsSinceEpoch())
        return false;
    // creation_time is UTC: the machine's zone gives the wall clock and its offset.
    const std::int64_t utc = t->wallMs - std::int64_t(t->offsetMin.value_or(0)) * 60000;
    const int offsetS = QDateTime::fromMSecsSinceEpoch(utc, Qt::LocalTime).offsetFromUtc();
    setTaken(m, utc + std::int64_t(offsetS) * 1000, offsetS / 60, CaptureSource::Video);
    return true;
}

} // namespace

CaptureMetadata readVideoMetadata(const QString &path, QString *error)
{
    CaptureMetadata m;
    try {
        const QByteArray local = encodeFileName(path);
        AVFormatContext *raw = nullptr;
        const int err = avformat_open_input(&raw, local.constData(), nullptr, nullptr);  // frees raw on failure
        if (err < 0)
            throw std::runtime_error("not a video FFmpeg can read (" + ff::errorString(err) + ")");
        const ff::FormatContextPtr fmt(raw);
        videoTime(m, fmt.get());
        for (const char *key : {"com.apple.quicktime.location.ISO6709", "location"})
            if (const char *loc = videoTag(fmt.get(), key))
                if (const std::optional<GeoPoint> p = parseIso6709(loc)) {
                    m.gpsLat = p->lat;
                    m.gpsLon = p->lon;
                    break;
                }
        if (const char *make = videoTag(fmt.get(), "com.apple.quicktime.make"))
            m.make = cleanText(make);
        if (const char *model = videoTag(fmt.get(), "com.apple.quicktime.model"))
            m.model = cleanText(model);
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("cannot read the video's metadata: %1").arg(describe(e));
    } catch (...) {
        if (error)
            *error = QStringLiteral("cannot read the video's metadata");
    }
    return m;
}

} // namespace unisearch::media

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
