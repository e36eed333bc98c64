#pragma once
// The visual tokens of recently re-ranked items (the vision encoder's output that the ITM head
// attends to: an image's, or a video's sampled frames'), so that refining a query scores them
// again without decoding the files and running the vision tower
// (model::ModelRunner::itmLogitsTokens, itmLogitsVideoTokens).
//
// Bounded by bytes, least recently used out first. A key names the item as it was when its
// tokens were made (item id, file size and mtime as stat() reports them now) and the model
// that made them (its fingerprint, adapter pack and precision): a changed file or another
// model never meets a stale entry, it simply misses. Thread-safe.
#include <QString>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace unisearch::model {
struct VisualTokens;
}

namespace unisearch::engine {

struct TokenCacheParams {
    // A base model's tokens at 384 px are 577 × 768 values: 1.7 MB at float32, 0.9 MB at
    // bfloat16, so the default keeps the last 150–300 re-ranked images (a video of 8 frames
    // takes as much as 8 images).
    std::size_t maxBytes = std::size_t(256) << 20;
};

struct TokenKey {
    std::int64_t itemId = 0;
    std::int64_t size = 0;
    std::int64_t mtimeMs = 0;
    QString model;  // the model's fingerprint, adapter pack and precision
    int frames = 1; // a video's frames sampled for its tokens (an image: 1)
    bool operator==(const TokenKey &) const = default;
};

struct TokenCacheStats {
    std::int64_t hits = 0;
    std::int64_t misses = 0;
    std::int64_t evictions = 0;
    std::size_t bytes = 0;  // held now
    std::size_t entries = 0;
};

class TokenCache
{
public:
    using Tokens = std::shared_ptr<const model::VisualTokens>;

    explicit TokenCache(const TokenCacheParams &params = {});
    ~TokenCache();
    TokenCache(const TokenCache &) = delete;
    TokenCache &operator=(const TokenCache &) = delete;

    // The tokens stored under key (now the most recently used), or null; counts a hit or a miss.
    Tokens find(const TokenKey &key);
    // Stores tokens of bytes under key (replacing an entry of that key), then drops the least
    // recently used entries until the bound holds. Tokens larger than the bound are not kept.
    void insert(const TokenKey &key, Tokens tokens, std::size_t bytes);
    void clear();
    TokenCacheStats stats() const;
    std::size_t maxBytes() const { return m_params.maxBytes; }

private:
    struct KeyHash {
        std::size_t operator()(const TokenKey &k) const;
    };
    struct Entry {
        TokenKey key;
        Tokens tokens;
        std::size_t bytes = 0;
    };
    TokenCacheParams m_params;
    mutable std::mutex m_mutex;
    std::list<Entry> m_lru;  // most recently used first
    std::unordered_map<TokenKey, std::list<Entry>::iterator, KeyHash> m_index;
    TokenCacheStats m_stats;
};

} // namespace unisearch::engine
