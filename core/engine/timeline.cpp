#include "engine/timeline.h"

#include "catalog/database_p.h"

#include <QDate>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QObject>
#include <QTimeZone>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>

namespace unisearch::engine {

using catalog::detail::Database;
using catalog::detail::Statement;

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

struct Key {
    std::int64_t takenLocalMs;
    std::int64_t itemId;
};

// A UTC instant as this machine's wall clock showed it (ms since 1970-01-01T00:00, no zone).
std::int64_t localWallClockMs(std::int64_t utcMs)
{
    const QDateTime t = QDateTime::fromMSecsSinceEpoch(utcMs, QTimeZone::systemTimeZone());
    return utcMs + std::int64_t(t.offsetFromUtc()) * 1000;
}

QDate wallClockDate(std::int64_t localMs)
{
    std::int64_t days = localMs / kDayMs;
    if (localMs < 0 && localMs % kDayMs != 0)
        --days;
    return QDate::fromJulianDay(2440588 + days);  // 2440588: 1970-01-01
}

bool hasItemMeta(Database &db)
{
    return db.queryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'item_meta'") > 0;
}

// Items the library shows: indexed ones and those waiting to be (not missing or unreadable).
constexpr const char *kShown = "i.status IN ('indexed', 'pending')";

} // namespace

struct Timeline::Private {
    Database db;
    bool meta = false;
    std::vector<Key> keys;  // newest first
    std::vector<TimelineMonth> months;

    void readKeys();
};

void Timeline::Private::readKeys()
{
    meta = hasItemMeta(db);
    const std::string sql = meta ? std::string("SELECT i.id, i.mtime_ms, m.taken_local_ms FROM items i"
                                               " LEFT JOIN item_meta m ON m.item_id = i.id WHERE ")
                                       + kShown
                                 : std::string("SELECT i.id, i.mtime_ms, NULL FROM items i WHERE ") + kShown;
    // The zone's offset per day of file time, exact where it is the same at both ends of the
    // day (a DST day converts each time on its own): a conversion through the zone database
    // for every item would take most of a second over 100,000 items.
    std::unordered_map<std::int64_t, std::pair<std::int64_t, std::int64_t>> offsetOfDay;
    auto local = [&](std::int64_t utcMs) {
        const std::int64_t day = utcMs / kDayMs - (utcMs % kDayMs < 0 ? 1 : 0);
        auto it = offsetOfDay.find(day);
        if (it == offsetOfDay.end()) {
            const std::int64_t start = day * kDayMs, end = start + kDayMs - 1;
            it = offsetOfDay.emplace(day, std::pair(localWallClockMs(start) - start, localWallClockMs(end) - end)).first;
        }
        const auto [first, last] = it->second;
        return first == last ? utcMs + first : localWallClockMs(utcMs);
    };
    std::vector<Key> fresh;
    fresh.reserve(std::size_t(std::max<std::int64_t>(0, db.queryInt("SELECT count(*) FROM items"))));
    Statement s = db.prepare(sql);
    while (s.step()) {
        const std::optional<std::int64_t> taken = s.optionalInt64(2);
        fresh.push_back(Key{taken ? *taken : local(s.int64(1)), s.int64(0)});
    }
    std::sort(fresh.begin(), fresh.end(), [](const Key &a, const Key &b) {
        return a.takenLocalMs != b.takenLocalMs ? a.takenLocalMs > b.takenLocalMs : a.itemId > b.itemId;
    });
    std::vector<TimelineMonth> groups;
    for (int i = 0; i < int(fresh.size()); ++i) {
        const QDate date = wallClockDate(fresh[i].takenLocalMs);
        if (groups.empty() || groups.back().year != date.year() || groups.back().month != date.month())
            groups.push_back(TimelineMonth{date.year(), date.month(), i, 0});
        ++groups.back().count;
    }
    keys = std::move(fresh);
    months = std::move(groups);
}

Timeline::Timeline() : d(std::make_unique<Private>()) {}
Timeline::~Timeline() = default;

std::unique_ptr<Timeline> Timeline::open(const QString &dataDir, QString *error)
{
    const QString path = QDir(dataDir).filePath(QString::fromLatin1(catalog::Catalog::fileName));
    if (!QFileInfo::exists(path)) {
        if (error)
            *error = QObject::tr("The library has no catalog yet (%1): add a folder first.").arg(path);
        return nullptr;
    }
    std::unique_ptr<Timeline> t(new Timeline);
    try {
        t->d->db = Database::open(path, false);
        t->d->db.setBusyTimeout(5000);
        t->d->db.exec("PRAGMA query_only = ON");
    } catch (const catalog::CatalogError &e) {
        if (error)
            *error = QObject::tr("The library's catalog cannot be read: %1").arg(QString::fromUtf8(e.what()));
        return nullptr;
    }
    if (!t->refresh(error))
        return nullptr;
    return t;
}

bool Timeline::refresh(QString *error)
{
    try {
        d->readKeys();
        return true;
    } catch (const catalog::CatalogError &e) {
        if (error)
            *error = QObject::tr("The library's catalog cannot be read: %1").arg(QString::fromUtf8(e.what()));
        return false;
    }
}

int Timeline::count() const
{
    return int(d->keys.size());
}

const std::vector<TimelineMonth> &Timeline::months() const
{
    return d->months;
}

std::size_t Timeline::keyBytes() const
{
    return d->keys.capacity() * sizeof(Key) + d->months.capacity() * sizeof(TimelineMonth);
}

std::vector<TimelineItem> Timeline::page(int first, int count, QString *error)
{
    first = std::clamp(first, 0, int(d->keys.size()));
    count = std::clamp(count, 0, std::min(maxPage, int(d->keys.size()) - first));
    if (count == 0)
        return {};
    // Literal ids (integers only, so no injection), one statement for the page.
    std::string list;
    for (int i = first; i < first + count; ++i) {
        if (!list.empty())
            list += ',';
        list += std::to_string(d->keys[std::size_t(i)].itemId);
    }
    std::unordered_map<std::int64_t, TimelineItem> byId;
    try {
        Statement s = d->db.prepare(
            std::string("SELECT id, path, type, mtime_ms, width, height, duration_s FROM items WHERE id IN (") + list + ")");
        while (s.step()) {
            TimelineItem item;
            item.itemId = s.int64(0);
            item.path = s.text(1);
            item.type = catalog::itemTypeFromString(s.text(2)).value_or(catalog::ItemType::Image);
            item.mtimeMs = s.int64(3);
            item.width = int(s.int64(4));
            item.height = int(s.int64(5));
            item.durationS = s.real(6);
            byId.emplace(item.itemId, std::move(item));
        }
    } catch (const catalog::CatalogError &e) {
        if (error)
            *error = QObject::tr("The library's catalog cannot be read: %1").arg(QString::fromUtf8(e.what()));
        return {};
    }
    std::vector<TimelineItem> out;
    out.reserve(std::size_t(count));
    for (int i = first; i < first + count; ++i) {
        const Key &k = d->keys[std::size_t(i)];
        auto it = byId.find(k.itemId);
        TimelineItem item = it == byId.end() ? TimelineItem{} : std::move(it->second);
        item.itemId = k.itemId;  // gone since the refresh: an empty path, so the page stays aligned
        item.takenLocalMs = k.takenLocalMs;
        out.push_back(std::move(item));
    }
    return out;
}

} // namespace unisearch::engine
