#include "pickle_p.h"

#include "statedict_p.h"

#include <array>
#include <bit>
#include <limits>

namespace unisearch::model::pickle {

namespace {

constexpr const char *kRefusalTail = "; only tensors and dictionaries are allowed";

// Names of the opcodes we refuse, so that the message says what the file tried to do.
const char *opcodeName(uint8_t op)
{
    switch (op) {
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'P': return "PERSID";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'd': return "DICT";
    case 'g': return "GET";
    case 'i': return "INST";
    case 'l': return "LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x8b: return "LONG4";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
    }
}

// Names taken from the file go into messages: keep them printable and short.
std::string printable(std::string_view s)
{
    return detail::excerpt(s);
}

// What one memo entry costs in an unordered_map (node, bucket, key, pointer), roughly.
constexpr size_t kMemoEntryBytes = 64;

std::string hexByte(uint8_t b)
{
    static const char digits[] = "0123456789abcdef";
    return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

struct StorageClass {
    const char *name;
    StorageType type;
};

constexpr std::array<StorageClass, 10> kStorageClasses{{
    {"FloatStorage", StorageType::Float},
    {"DoubleStorage", StorageType::Double},
    {"HalfStorage", StorageType::Half},
    {"BFloat16Storage", StorageType::BFloat16},
    {"LongStorage", StorageType::Long},
    {"IntStorage", StorageType::Int},
    {"ShortStorage", StorageType::Short},
    {"CharStorage", StorageType::Char},
    {"ByteStorage", StorageType::Byte},
    {"BoolStorage", StorageType::Bool},
}};

const char *kindName(Value::Kind kind)
{
    switch (kind) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::BigInt: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::Bytes: return "bytes";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Global: return "global";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Tensor: return "tensor";
    }
    return "value";
}

bool mulOverflows(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

bool addOverflows(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

} // namespace

int64_t elementSize(StorageType type)
{
    switch (type) {
    case StorageType::Double:
    case StorageType::Long:
        return 8;
    case StorageType::Float:
    case StorageType::Int:
        return 4;
    case StorageType::Half:
    case StorageType::BFloat16:
    case StorageType::Short:
        return 2;
    case StorageType::Char:
    case StorageType::Byte:
    case StorageType::Bool:
        return 1;
    }
    return 1;
}

const char *storageTypeName(StorageType type)
{
    for (const auto &c : kStorageClasses)
        if (c.type == type)
            return c.name;
    return "Storage";
}

const Value *Value::find(std::string_view key) const
{
    for (auto it = entries.rbegin(); it != entries.rend(); ++it)
        if (it->first->kind == Kind::String && it->first->text == key)
            return it->second;
    return nullptr;
}

// Bounds-checked reading of the opcode stream.
class Cursor
{
public:
    explicit Cursor(std::string_view data) : m_data(data) {}
    bool atEnd() const { return m_pos >= m_data.size(); }
    size_t pos() const { return m_pos; }
    size_t remaining() const { return m_data.size() - m_pos; }

    uint8_t byte()
    {
        need(1);
        return static_cast<uint8_t>(m_data[m_pos++]);
    }
    uint64_t uintLE(size_t n)
    {
        need(n);
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i)
            v |= uint64_t(static_cast<uint8_t>(m_data[m_pos + i])) << (8 * i);
        m_pos += n;
        return v;
    }
    std::string_view bytes(uint64_t n)
    {
        need(n);
        std::string_view s = m_data.substr(m_pos, n);
        m_pos += n;
        return s;
    }
    std::string_view line()
    {
        // GLOBAL's module and name are newline-terminated; real names are short.
        const size_t end = m_data.find('\n', m_pos);
        if (end == std::string_view::npos || end - m_pos > 1024)
            throw CheckpointError("malformed pickle: unterminated GLOBAL name at byte " + std::to_string(m_pos));
        std::string_view s = m_data.substr(m_pos, end - m_pos);
        m_pos = end + 1;
        return s;
    }

private:
    void need(uint64_t n) const
    {
        if (n > m_data.size() - m_pos)
            throw CheckpointError("malformed pickle: data ends in the middle of an opcode (truncated data.pkl)");
    }

    std::string_view m_data;
    size_t m_pos = 0;
};


Value *Unpickler::make(Value::Kind kind)
{
    if (m_values.size() >= m_limits.maxValues)
        throw CheckpointError("pickle holds more than " + std::to_string(m_limits.maxValues)
                              + " objects; this is not a state dict");
    m_values.emplace_back(); // counted by maxValues, not by the memory budget
    m_values.back().kind = kind;
    return &m_values.back();
}

void Unpickler::charge(size_t bytes)
{
    if (bytes > m_limits.maxMemory - m_memory)
        throw CheckpointError("unpickling needs more than " + std::to_string(m_limits.maxMemory >> 20)
                              + " MB for its objects, stack and memo (at byte " + std::to_string(m_pos)
                              + "); a state dict needs far less, so this is not one");
    m_memory += bytes;
}

void Unpickler::push(Value *v)
{
    charge(sizeof(Value *));
    m_stack.push_back(v);
}

void Unpickler::memoize(uint64_t key, Value *v)
{
    if (m_memo.insert_or_assign(key, v).second)
        charge(kMemoEntryBytes);
}

Value *Unpickler::top()
{
    const size_t fence = m_marks.empty() ? 0 : m_marks.back();
    if (m_stack.size() <= fence)
        throw CheckpointError("malformed pickle: stack underflow at byte " + std::to_string(m_pos));
    return m_stack.back();
}

Value *Unpickler::pop()
{
    Value *v = top();
    m_stack.pop_back();
    return v;
}

std::vector<Value *> Unpickler::popToMark()
{
    if (m_marks.empty())
        throw CheckpointError("malformed pickle: no MARK for the opcode at byte " + std::to_string(m_pos));
    const size_t mark = m_marks.back();
    m_marks.pop_back();
    std::vector<Value *> items(m_stack.begin() + static_cast<std::ptrdiff_t>(mark), m_stack.end());
    m_stack.resize(mark);
    return items;
}

Value *Unpickler::global(std::string module, std::string name)
{
    Value *v = make(Value::Kind::Global);
    charge(module.size() + name.size() + 1);
    v->text = module + "." + name;
    if (module == "collections" && name == "OrderedDict") {
        v->global = GlobalKind::OrderedDict;
        return v;
    }
    if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
        v->global = GlobalKind::RebuildTensorV2;
        return v;
    }
    if (module == "torch._utils" && name == "_rebuild_parameter") {
        v->global = GlobalKind::RebuildParameter;
        return v;
    }
    if (module == "torch") {
        for (const auto &c : kStorageClasses) {
            if (name == c.name) {
                v->global = GlobalKind::Storage;
                v->storageType = c.type;
                return v;
            }
        }
    }
    throw CheckpointError("refusing checkpoint: pickle references global '" + printable(v->text) + "'"
                          + kRefusalTail);
}

Value *Unpickler::persistentLoad(Value *pid)
{
    // torch.save writes ('storage', storage class, key, location, numel).
    auto bad = [](const std::string &why) {
        return CheckpointError("malformed checkpoint: persistent id " + why);
    };
    if (pid->kind != Value::Kind::Tuple || pid->items.size() != 5)
        throw bad("is not a 5-tuple ('storage', type, key, location, numel)");
    const auto &it = pid->items;
    if (!it[0]->isString() || it[0]->text != "storage")
        throw bad("does not name a storage");
    if (it[1]->kind != Value::Kind::Global || it[1]->global != GlobalKind::Storage)
        throw bad("has no storage class");
    if (!it[2]->isString() || it[2]->text.empty() || it[2]->text.size() > 256
        || it[2]->text.find('\0') != std::string::npos)
        throw bad("has an invalid storage key");
    // it[3] is the device the storage was saved from ('cuda:0'): everything loads to CPU.
    if (!it[3]->isString())
        throw bad("has no location");
    if (it[4]->kind != Value::Kind::Int || it[4]->integer < 0)
        throw bad("has an invalid element count");

    const StorageType type = it[1]->storageType;
    const int64_t numel = it[4]->integer;
    int64_t bytes = 0;
    if (mulOverflows(numel, elementSize(type), &bytes))
        throw CheckpointError("malformed checkpoint: storage 'data/" + printable(it[2]->text) + "' claims "
                              + std::to_string(numel) + " elements, more than memory can address");

    size_t index = 0;
    if (auto found = m_storageByKey.find(it[2]->text); found != m_storageByKey.end()) {
        // The same storage referenced again (tied or shared weights) must agree with itself.
        index = found->second;
        const StorageRef &s = m_storages[index];
        if (s.type != type || s.numel != numel)
            throw CheckpointError("malformed checkpoint: storage 'data/" + printable(s.key)
                                  + "' is referenced with two different types or sizes");
    } else {
        index = m_storages.size();
        charge(sizeof(StorageRef) + 2 * it[2]->text.size()); // the key, here and in m_storageByKey
        m_storages.push_back({it[2]->text, type, numel});
        m_storageByKey.emplace(it[2]->text, index);
    }
    Value *v = make(Value::Kind::Storage);
    v->index = index;
    return v;
}

Value *Unpickler::rebuildTensor(const Value *args)
{
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
    //                    backward_hooks[, metadata])
    auto bad = [](const std::string &why) {
        return CheckpointError("malformed checkpoint: _rebuild_tensor_v2 " + why);
    };
    const auto &a = args->items;
    if (a.size() != 6 && a.size() != 7)
        throw bad("takes 6 or 7 arguments, got " + std::to_string(a.size()));
    if (a[0]->kind != Value::Kind::Storage)
        throw bad("needs a storage as its first argument");
    if (a[1]->kind != Value::Kind::Int || a[1]->integer < 0)
        throw bad("has an invalid storage offset");
    if (a[2]->kind != Value::Kind::Tuple || a[3]->kind != Value::Kind::Tuple
        || a[2]->items.size() != a[3]->items.size())
        throw bad("needs size and stride tuples of equal length");
    if (a[2]->items.size() > m_limits.maxDims)
        throw bad("has more than " + std::to_string(m_limits.maxDims) + " dimensions");
    if (a[4]->kind != Value::Kind::Bool && a[4]->kind != Value::Kind::Int)
        throw bad("has an invalid requires_grad");
    // backward_hooks is an empty OrderedDict in any saved state dict; hooks would need
    // globals that are refused anyway. metadata is a dict or None.
    if (a[5]->kind != Value::Kind::Dict && a[5]->kind != Value::Kind::None)
        throw bad("has invalid backward hooks");
    if (a.size() == 7 && a[6]->kind != Value::Kind::Dict && a[6]->kind != Value::Kind::None)
        throw bad("has invalid metadata");

    TensorRef t;
    t.storage = a[0]->index;
    t.offset = a[1]->integer;
    int64_t numel = 1;
    int64_t last = t.offset; // largest element index reached
    for (size_t i = 0; i < a[2]->items.size(); ++i) {
        const Value *size = a[2]->items[i];
        const Value *stride = a[3]->items[i];
        if (size->kind != Value::Kind::Int || size->integer < 0 || stride->kind != Value::Kind::Int
            || stride->integer < 0)
            throw bad("has a negative or non-integer size or stride");
        t.sizes.push_back(size->integer);
        t.strides.push_back(stride->integer);
        int64_t reach = 0;
        if (mulOverflows(numel, size->integer, &numel)
            || (size->integer > 0 && (mulOverflows(size->integer - 1, stride->integer, &reach)
                                      || addOverflows(last, reach, &last))))
            throw bad("describes a tensor too large to address");
    }
    if (numel != 0 && last == std::numeric_limits<int64_t>::max())
        throw bad("describes a tensor too large to address");
    t.extent = numel == 0 ? 0 : last + 1;
    // A view may skip stored elements (a slice, a transpose) but must not count more
    // elements than the stretch of storage it spans: a zero or overlapping stride lets one
    // stored float stand for a [2^28] tensor, a gigabyte once it is made contiguous.
    // (torch.save never writes such views of parameters.)
    if (numel > 1 && numel > t.extent - t.offset)
        throw bad("views " + std::to_string(numel) + " elements over a stretch of only "
                  + std::to_string(t.extent - t.offset)
                  + " stored ones (a zero or overlapping stride); a checkpoint's tensors do not repeat elements");

    Value *v = make(Value::Kind::Tensor);
    v->index = m_tensors.size();
    charge(sizeof(TensorRef) + 2 * sizeof(int64_t) * t.sizes.size());
    m_tensors.push_back(std::move(t));
    return v;
}

Value *Unpickler::reduce(Value *callable, Value *args)
{
    if (callable->kind != Value::Kind::Global)
        throw CheckpointError("refusing checkpoint: pickle calls a " + std::string(kindName(callable->kind))
                              + kRefusalTail);
    if (args->kind != Value::Kind::Tuple)
        throw CheckpointError("malformed pickle: REDUCE arguments are not a tuple");
    switch (callable->global) {
    case GlobalKind::OrderedDict: {
        Value *dict = make(Value::Kind::Dict);
        if (args->items.empty())
            return dict;
        // OrderedDict([(key, value), ...]), which torch never writes but is harmless.
        if (args->items.size() == 1 && args->items[0]->kind == Value::Kind::List) {
            for (const Value *pair : args->items[0]->items) {
                if ((pair->kind != Value::Kind::Tuple && pair->kind != Value::Kind::List) || pair->items.size() != 2)
                    throw CheckpointError("malformed pickle: OrderedDict item is not a pair");
                charge(sizeof(dict->entries[0]));
                dict->entries.emplace_back(pair->items[0], pair->items[1]);
            }
            return dict;
        }
        throw CheckpointError("malformed pickle: unexpected OrderedDict arguments");
    }
    case GlobalKind::RebuildTensorV2:
        return rebuildTensor(args);
    case GlobalKind::RebuildParameter:
        // _rebuild_parameter(data, requires_grad, backward_hooks): the parameter is its data.
        if (args->items.size() != 3 || args->items[0]->kind != Value::Kind::Tensor)
            throw CheckpointError("malformed checkpoint: _rebuild_parameter needs (tensor, requires_grad, hooks)");
        return args->items[0];
    case GlobalKind::Storage:
        break;
    }
    throw CheckpointError("refusing checkpoint: pickle calls '" + printable(callable->text)
                          + "' directly" + kRefusalTail);
}

// The opcodes that push one scalar (ints, floats, strings, bytes, booleans, None): the
// value, or null when op is not one of them.
Value *Unpickler::readScalar(uint8_t op, Cursor &in)
{
    switch (op) {
    case 'J': { // BININT
        Value *v = make(Value::Kind::Int);
        v->integer = static_cast<int32_t>(static_cast<uint32_t>(in.uintLE(4)));
        return v;
    }
    case 'K': // BININT1
    case 'M': { // BININT2
        Value *v = make(Value::Kind::Int);
        v->integer = static_cast<int64_t>(in.uintLE(op == 'K' ? 1 : 2));
        return v;
    }
    case 0x8a: { // LONG1: little-endian two's complement of n bytes
        const uint8_t n = in.byte();
        std::string_view b = in.bytes(n);
        Value *v = make(Value::Kind::Int);
        if (n > 8) {
            v->kind = Value::Kind::BigInt; // parsed, never needed by a state dict
        } else if (n > 0) {
            uint64_t u = 0;
            for (size_t i = 0; i < n; ++i)
                u |= uint64_t(static_cast<uint8_t>(b[i])) << (8 * i);
            if (n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80))
                u |= ~uint64_t(0) << (8 * n); // sign-extend
            v->integer = static_cast<int64_t>(u);
        }
        return v;
    }
    case 'G': { // BINFLOAT: big-endian IEEE double
        std::string_view b = in.bytes(8);
        uint64_t u = 0;
        for (size_t i = 0; i < 8; ++i)
            u = (u << 8) | static_cast<uint8_t>(b[i]);
        Value *v = make(Value::Kind::Float);
        v->real = std::bit_cast<double>(u);
        return v;
    }
    case 'X':    // BINUNICODE
    case 0x8c:   // SHORT_BINUNICODE
    case 0x8d:   // BINUNICODE8
    case 'T':    // BINSTRING (Python 2 str)
    case 'U':    // SHORT_BINSTRING
    case 'B':    // BINBYTES
    case 'C':    // SHORT_BINBYTES
    case 0x8e: { // BINBYTES8
        uint64_t n = 0;
        if (op == 0x8c || op == 'U' || op == 'C')
            n = in.byte();
        else if (op == 0x8d || op == 0x8e)
            n = in.uintLE(8);
        else if (op == 'T')
            n = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(in.uintLE(4))));
        else
            n = in.uintLE(4);
        std::string_view s = in.bytes(n); // throws when n is negative (huge) or past the end
        const bool isBytes = op == 'B' || op == 'C' || op == 0x8e;
        charge(s.size());
        Value *v = make(isBytes ? Value::Kind::Bytes : Value::Kind::String);
        v->text.assign(s);
        return v;
    }
    case 0x88: // NEWTRUE
    case 0x89: { // NEWFALSE
        Value *v = make(Value::Kind::Bool);
        v->boolean = op == 0x88;
        return v;
    }
    case 'N': // NONE
        return make(Value::Kind::None);
    default:
        return nullptr;
    }
}

// The opcodes that make or fill a container (tuples, empty dicts and lists, SETITEM(S),
// APPEND(S)): true when op was one of them.
bool Unpickler::buildContainer(uint8_t op)
{
    switch (op) {
    case '}': // EMPTY_DICT
        push(make(Value::Kind::Dict));
        return true;
    case ']': // EMPTY_LIST
        push(make(Value::Kind::List));
        return true;
    case ')': // EMPTY_TUPLE
        push(make(Value::Kind::Tuple));
        return true;
    case 't': { // TUPLE
        std::vector<Value *> items = popToMark();
        charge(items.size() * sizeof(Value *));
        Value *v = make(Value::Kind::Tuple);
        v->items = std::move(items);
        push(v);
        return true;
    }
    case 0x85:   // TUPLE1
    case 0x86:   // TUPLE2
    case 0x87: { // TUPLE3
        const size_t n = op - 0x84;
        charge(n * sizeof(Value *));
        std::vector<Value *> items(n);
        for (size_t i = n; i-- > 0;)
            items[i] = pop();
        Value *v = make(Value::Kind::Tuple);
        v->items = std::move(items);
        push(v);
        return true;
    }
    case 's': { // SETITEM
        Value *value = pop();
        Value *key = pop();
        Value *dict = top();
        if (dict->kind != Value::Kind::Dict)
            throw CheckpointError("malformed pickle: SETITEM on a " + std::string(kindName(dict->kind)));
        charge(sizeof(dict->entries[0]));
        dict->entries.emplace_back(key, value);
        return true;
    }
    case 'u': { // SETITEMS
        std::vector<Value *> items = popToMark();
        Value *dict = top();
        if (dict->kind != Value::Kind::Dict || items.size() % 2 != 0)
            throw CheckpointError("malformed pickle: SETITEMS on a " + std::string(kindName(dict->kind)));
        charge(items.size() / 2 * sizeof(dict->entries[0]));
        for (size_t i = 0; i < items.size(); i += 2)
            dict->entries.emplace_back(items[i], items[i + 1]);
        return true;
    }
    case 'a': { // APPEND
        Value *value = pop();
        Value *list = top();
        if (list->kind != Value::Kind::List)
            throw CheckpointError("malformed pickle: APPEND on a " + std::string(kindName(list->kind)));
        charge(sizeof(Value *));
        list->items.push_back(value);
        return true;
    }
    case 'e': { // APPENDS
        std::vector<Value *> items = popToMark();
        Value *list = top();
        if (list->kind != Value::Kind::List)
            throw CheckpointError("malformed pickle: APPENDS on a " + std::string(kindName(list->kind)));
        charge(items.size() * sizeof(Value *));
        list->items.insert(list->items.end(), items.begin(), items.end());
        return true;
    }
    default:
        return false;
    }
}

const Value *Unpickler::load(std::string_view data)
{
    if (data.size() > m_limits.maxBytes)
        throw CheckpointError("data.pkl is " + std::to_string(data.size()) + " bytes, larger than any state dict needs");
    m_stack.clear();
    m_marks.clear();
    m_memo.clear();

    Cursor in(data);
    while (!in.atEnd()) {
        m_pos = in.pos();
        const uint8_t op = in.byte();
        if (Value *scalar = readScalar(op, in)) {
            push(scalar);
            continue;
        }
        if (buildContainer(op))
            continue;
        switch (op) {
        case 0x80: { // PROTO
            const uint8_t proto = in.byte();
            if (proto > 5)
                throw CheckpointError("unsupported pickle protocol " + std::to_string(proto));
            break;
        }
        case 0x95: { // FRAME: a length prefix for the opcodes that follow; nothing to do
            const uint64_t n = in.uintLE(8);
            if (n > in.remaining())
                throw CheckpointError("malformed pickle: FRAME runs past the end of data.pkl");
            break;
        }
        case '.': // STOP
            return pop();
        case '(': // MARK
            charge(sizeof(size_t));
            m_marks.push_back(m_stack.size());
            break;
        case 'c': { // GLOBAL
            std::string module(in.line());
            std::string name(in.line());
            push(global(std::move(module), std::move(name)));
            break;
        }
        case 0x93: { // STACK_GLOBAL
            Value *name = pop();
            Value *module = pop();
            if (!name->isString() || !module->isString())
                throw CheckpointError("malformed pickle: STACK_GLOBAL needs two strings");
            push(global(module->text, name->text));
            break;
        }
        case 'q': // BINPUT
            memoize(in.byte(), top());
            break;
        case 'r': // LONG_BINPUT
            memoize(in.uintLE(4), top());
            break;
        case 0x94: // MEMOIZE
            memoize(m_memo.size(), top());
            break;
        case 'h':   // BINGET
        case 'j': { // LONG_BINGET
            const uint64_t key = op == 'h' ? in.byte() : in.uintLE(4);
            auto found = m_memo.find(key);
            if (found == m_memo.end())
                throw CheckpointError("malformed pickle: memo entry " + std::to_string(key) + " read before it is written");
            push(found->second);
            break;
        }
        case 'R': { // REDUCE
            Value *args = pop();
            Value *callable = pop();
            push(reduce(callable, args));
            break;
        }
        case 'b': { // BUILD
            // The only objects we build are dicts (state_dict's OrderedDict gets its
            // _metadata attribute this way) and tensors; their state is not needed.
            pop();
            Value *obj = top();
            if (obj->kind != Value::Kind::Dict && obj->kind != Value::Kind::Tensor)
                throw CheckpointError("refusing checkpoint: pickle sets the state of a "
                                      + std::string(kindName(obj->kind)) + kRefusalTail);
            break;
        }
        case 'Q': // BINPERSID
            push(persistentLoad(pop()));
            break;
        default: {
            const std::string where = " at byte " + std::to_string(m_pos);
            if (const char *name = opcodeName(op))
                throw CheckpointError("refusing checkpoint: pickle opcode " + std::string(name) + " ("
                                      + hexByte(op) + ")" + where + " is not allowed" + kRefusalTail);
            throw CheckpointError("malformed pickle: unknown opcode " + hexByte(op) + where);
        }
        }
    }
    throw CheckpointError("malformed pickle: data.pkl ends without STOP (truncated?)");
}

} // namespace unisearch::model::pickle
