#include "statedict_p.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace unisearch::model {

std::string formatShape(at::IntArrayRef shape)
{
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i)
            s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

void StateDict::insert(std::string name, torch::Tensor tensor)
{
    m_tensors.insert_or_assign(std::move(name), std::move(tensor));
}

bool StateDict::contains(const std::string &name) const
{
    return m_tensors.count(name) != 0;
}

torch::Tensor StateDict::get(const std::string &name) const
{
    auto it = m_tensors.find(name);
    if (it == m_tensors.end())
        throw CheckpointError("checkpoint has no tensor '" + name + "'");
    return it->second;
}

torch::Tensor StateDict::get(const std::string &name, at::IntArrayRef expectedShape) const
{
    torch::Tensor t = get(name);
    if (t.sizes() != expectedShape)
        throw CheckpointError(name + ": checkpoint has " + formatShape(t.sizes()) + ", model expects "
                              + formatShape(expectedShape));
    return t;
}

StateDict StateDict::select(const std::string &prefix) const
{
    StateDict out;
    // Keys sharing a prefix are adjacent in the sorted map.
    for (auto it = m_tensors.lower_bound(prefix); it != m_tensors.end() && it->first.starts_with(prefix); ++it) {
        if (it->first.size() == prefix.size())
            continue; // the prefix itself names no entry below it
        out.m_tensors.emplace_hint(out.m_tensors.end(), it->first.substr(prefix.size()), it->second);
    }
    return out;
}

bool StateDict::hasPrefix(const std::string &prefix) const
{
    auto it = m_tensors.lower_bound(prefix);
    return it != m_tensors.end() && it->first.starts_with(prefix);
}

std::vector<std::string> StateDict::keys() const
{
    std::vector<std::string> out;
    out.reserve(m_tensors.size());
    for (const auto &entry : m_tensors)
        out.push_back(entry.first);
    return out;
}

StateDict loadCheckpoint(const std::string &path)
{
    return loadCheckpoint(path, nullptr);
}

namespace {
StateDict readCheckpointFile(const std::string &path, std::map<std::string, std::string> *metadata, bool map);
}

StateDict loadCheckpoint(const std::string &path, std::map<std::string, std::string> *metadata)
{
    return readCheckpointFile(path, metadata, false);
}

StateDict mapCheckpoint(const std::string &path)
{
    return readCheckpointFile(path, nullptr, true);
}

namespace {
StateDict readCheckpointFile(const std::string &path, std::map<std::string, std::string> *metadata, bool map)
{
    // Decide by content, not by extension: downloads get renamed.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw CheckpointError("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    unsigned char head[16] = {};
    ssize_t got = -1;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        do
            got = ::pread(fd, head, sizeof head, 0);
        while (got < 0 && errno == EINTR);
    }
    ::close(fd);
    if (got < 0)
        throw CheckpointError("cannot read " + path + " (not a regular, readable file)");

    const std::string neither = path + " is neither a PyTorch checkpoint (.pth) nor a .safetensors file";
    if (got == 0)
        throw CheckpointError(neither + " (it is empty)");
    if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0)
        return loadPth(path, metadata);
    if (got >= 9) {
        uint64_t headerLen = 0;
        for (int i = 0; i < 8; ++i)
            headerLen |= uint64_t(head[i]) << (8 * i);
        const uint64_t fileSize = static_cast<uint64_t>(st.st_size);
        if (headerLen >= 2 && headerLen <= fileSize - 8 && head[8] == '{')
            return map ? mapSafetensors(path, metadata) : loadSafetensors(path, metadata);
    }
    // Before 1.6 torch.save wrote a bare pickle stream that starts with a protocol opcode.
    if (got >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5)
        throw CheckpointError(path + " is a PyTorch checkpoint in the legacy format (before PyTorch 1.6), "
                                     "which is not supported; re-save it with torch.save() from a newer PyTorch "
                                     "or convert it to .safetensors");
    throw CheckpointError(neither);
}
} // namespace

} // namespace unisearch::model
