#pragma once
// Capture metadata of a photo (Exiv2) or a video (FFmpeg's container tags): when it was
// taken, where, with which camera, and its EXIF orientation. The engine stores it in the
// catalog (item_meta) and falls back to the file time when no capture time is found.
//
// Every string comes from a file and is treated as hostile: dates outside 1900..2100 or
// that do not exist, offsets beyond ±14 h, coordinates beyond ±90/±180, orientations
// outside 1..8 are dropped; texts are bounded and stripped of control characters. The
// readers never throw: a file they cannot read gives empty metadata and, through error,
// the reason.
#include <QString>

#include <cstdint>
#include <optional>
#include <string_view>

namespace unisearch::media {

// Bumped when the readers learn something new: catalogs re-read rows written by an older one.
inline constexpr int metadataReaderVersion = 1;

enum class CaptureSource { None, Exif, Video };

struct CaptureMetadata {
    // The capture time as the camera's clock showed it: ms since 1970-01-01T00:00, no zone.
    std::optional<std::int64_t> takenLocalMs;
    std::optional<int> takenOffsetMin;  // that clock's offset east of UTC, when known
    CaptureSource source = CaptureSource::None;
    std::optional<double> gpsLat;  // degrees, north positive (both or neither)
    std::optional<double> gpsLon;  // degrees, east positive
    QString make;                  // camera maker and model; empty when unknown
    QString model;
    std::optional<int> orientation;  // EXIF 1..8
};

// A photo through Exiv2: Exif DateTimeOriginal (+ OffsetTimeOriginal, SubSecTimeOriginal),
// else DateTimeDigitized (+ its offset and sub-seconds), else XMP exif:DateTimeOriginal or
// xmp:CreateDate; GPS, Make, Model, Orientation. HEIC/AVIF: when Exiv2 finds no capture
// time (Debian's Exiv2 0.27 is built without its HEIF reader), the primary image's Exif
// block through libheif (when built with it).
CaptureMetadata readPhotoMetadata(const QString &path, QString *error = nullptr);
// A video through FFmpeg: com.apple.quicktime.creationdate (local time with its offset),
// else creation_time (UTC, shown in the machine's zone with that zone's offset); the ISO
// 6709 location; Apple's make and model.
CaptureMetadata readVideoMetadata(const QString &path, QString *error = nullptr);

// The parsers the readers use, for strings from files.
// "YYYY:MM:DD HH:MM:SS" (also '-' in the date, 'T' between): wall-clock ms.
std::optional<std::int64_t> parseExifDateTime(std::string_view s);
// "+01:00", "-0530", "+05", "Z": minutes east of UTC, within ±14 h.
std::optional<int> parseUtcOffset(std::string_view s);
// "250" → 250 ms, "5" → 500 ms: EXIF SubSecTime digits as milliseconds.
std::optional<int> parseSubSeconds(std::string_view s);
struct IsoDateTime {
    std::int64_t wallMs = 0;
    std::optional<int> offsetMin;
};
// "2024-01-02T10:30:00[.ffffff][Z|±HH:MM|±HHMM]".
std::optional<IsoDateTime> parseIsoDateTime(std::string_view s);
struct GeoPoint {
    double lat = 0;
    double lon = 0;
};
// ISO 6709 as videos carry it: "+37.3318-122.0312+010.000/".
std::optional<GeoPoint> parseIso6709(std::string_view s);

} // namespace unisearch::media
