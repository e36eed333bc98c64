#pragma once
// Motion photos: a JPEG with a short MP4 appended after its image, as Google's and
// Samsung's cameras write them, found through the XMP that says where the video starts:
// GCamera:MicroVideoOffset (the older "MicroVideo": the video's length, counted from the end
// of the file) or the Container directory of "MotionPhoto" (its item of semantic
// MotionPhoto has the video's Item:Length, again the file's last bytes). The video is
// copied out to a file of its own for the video decoder.
#include <QString>

#include <optional>

namespace unisearch::media {

// Where the embedded video lies in the file.
struct EmbeddedVideo {
    qint64 offset = 0;
    qint64 length = 0;
};

// Bounds: the XMP is looked for in the file's first headBytes; a video larger than
// maxVideoBytes is not taken.
struct MotionPhotoLimits {
    qint64 headBytes = 256 * 1024;
    qint64 maxVideoBytes = 256LL * 1024 * 1024;
};

// The embedded video of a motion photo, or nothing (not a motion photo, or its XMP points
// outside the file or at something that is no MP4: *error says which).
std::optional<EmbeddedVideo> findMotionPhotoVideo(const QString &path, const MotionPhotoLimits &limits = {},
                                                  QString *error = nullptr);

// Copies the embedded video to dst (replaced). False with *error when it cannot.
bool extractMotionPhotoVideo(const QString &path, const EmbeddedVideo &video, const QString &dst,
                             QString *error = nullptr);

} // namespace unisearch::media
