#include "engine/tokencache.h"

#include <QHash>

namespace unisearch::engine {

std::size_t TokenCache::KeyHash::operator()(const TokenKey &k) const
{
    return qHashMulti(0, k.itemId, k.size, k.mtimeMs, k.model, k.frames);
}

TokenCache::TokenCache(const TokenCacheParams &params) : m_params(params) {}

TokenCache::~TokenCache() = default;

TokenCache::Tokens TokenCache::find(const TokenKey &key)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    const auto it = m_index.find(key);
    if (it == m_index.end()) {
        ++m_stats.misses;
        return nullptr;
    }
    ++m_stats.hits;
    m_lru.splice(m_lru.begin(), m_lru, it->second);
    return it->second->tokens;
}

void TokenCache::insert(const TokenKey &key, Tokens tokens, std::size_t bytes)
{
    if (!tokens || bytes > m_params.maxBytes)
        return;
    std::lock_guard<std::mutex> guard(m_mutex);
    if (const auto it = m_index.find(key); it != m_index.end()) {
        m_stats.bytes -= it->second->bytes;
        m_lru.erase(it->second);
        m_index.erase(it);
    }
    m_lru.push_front(Entry{key, std::move(tokens), bytes});
    m_index.emplace(key, m_lru.begin());
    m_stats.bytes += bytes;
    while (m_stats.bytes > m_params.maxBytes) {
        const Entry &last = m_lru.back();
        m_stats.bytes -= last.bytes;
        m_index.erase(last.key);
        m_lru.pop_back();
        ++m_stats.evictions;
    }
    m_stats.entries = m_lru.size();
}

void TokenCache::clear()
{
    std::lock_guard<std::mutex> guard(m_mutex);
    m_lru.clear();
    m_index.clear();
    m_stats.bytes = 0;
    m_stats.entries = 0;
}

TokenCacheStats TokenCache::stats() const
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_stats;
}

} // namespace unisearch::engine
