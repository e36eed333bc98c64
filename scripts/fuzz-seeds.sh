#!/usr/bin/env bash
# Generates the seed corpora of the fuzz targets (fuzz/) into SEEDS_DIR (default
# build-asan/fuzz-seeds/<target>/), from the reference fixtures (../shared/fixtures or
# $UNISEARCH_FIXTURES), python3 and the ffmpeg command line. Nothing binary is committed:
# every seed is made here, small (at most a few KB, the fixture pickle 74 KB), so that a
# 25-second CI run executes them many times. Also writes a libFuzzer dictionary per format.
#
#   scripts/fuzz-seeds.sh               # seeds for every target
#   SEEDS_DIR=/tmp/seeds scripts/fuzz-seeds.sh
#
# The catalog seeds include real catalogs written by unisearch-cli when BUILD_DIR (default
# build-asan) holds one (the fuzz build does); without it only hand-made SQLite files.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
SEEDS_DIR=${SEEDS_DIR:-$BUILD_DIR/fuzz-seeds}
FIXTURES=${UNISEARCH_FIXTURES:-../shared/fixtures}
for tool in python3 ffmpeg; do
  command -v "$tool" >/dev/null || { echo "fuzz-seeds: $tool is needed (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
rm -rf "$SEEDS_DIR"
mkdir -p "$SEEDS_DIR"
SEEDS_DIR=$(cd "$SEEDS_DIR" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- checkpoints, packs, text, training data, hand-made catalogs: python3 -------------
python3 - "$SEEDS_DIR" "$FIXTURES" <<'PY'
import collections, io, json, os, pickle, sqlite3, struct, sys, types, zipfile

out, fixtures = sys.argv[1], sys.argv[2]
def target(name):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    return d
def write(name, file, data):
    with open(os.path.join(target(name), file), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode('utf-8'))

# A stand-in for the torch module, so that pickle writes exactly the globals torch.save
# writes (torch._utils._rebuild_tensor_v2, torch.FloatStorage, ...) without torch.
torch = types.ModuleType('torch'); tutils = types.ModuleType('torch._utils')
sys.modules['torch'] = torch; sys.modules['torch._utils'] = tutils
def _global(module, name, obj):
    obj.__module__ = module.__name__; obj.__qualname__ = name; obj.__name__ = name
    setattr(module, name, obj)
    return obj
storage_types = {}
for n, size in [('FloatStorage', 4), ('HalfStorage', 2), ('BFloat16Storage', 2), ('LongStorage', 8),
                ('IntStorage', 4), ('ByteStorage', 1), ('BoolStorage', 1), ('DoubleStorage', 8)]:
    storage_types[n] = (_global(torch, n, type(n, (), {})), size)
rebuild_tensor = _global(tutils, '_rebuild_tensor_v2', lambda *a: None)
rebuild_parameter = _global(tutils, '_rebuild_parameter', lambda *a: None)

class Storage:
    def __init__(self, key, kind, data):
        self.key, self.kind, self.data = key, kind, data
class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
    def __reduce__(self):
        return (rebuild_tensor, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))
class Parameter:
    def __init__(self, tensor): self.tensor = tensor
    def __reduce__(self): return (rebuild_parameter, (self.tensor, True, collections.OrderedDict()))
class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            cls, size = storage_types[obj.kind]
            return ('storage', cls, obj.key, 'cpu', len(obj.data) // size)
        return None
def dumps(obj):
    b = io.BytesIO(); Pickler(b, protocol=2).dump(obj); return b.getvalue()

def checkpoint(tensors, extra=None, wrap=True):
    """(data.pkl bytes, {key: storage bytes}) for a state dict of name -> Tensor/Parameter."""
    sd = collections.OrderedDict(tensors)
    obj = dict(model=sd, **(extra or {})) if wrap else sd
    storages = {}
    for t in tensors.values():
        t = t.tensor if isinstance(t, Parameter) else t
        storages[t.storage.key] = t.storage.data
    return dumps(obj), storages
def pth(name, pkl, storages, order_first='data.pkl'):
    b = io.BytesIO()
    with zipfile.ZipFile(b, 'w', zipfile.ZIP_STORED) as z:
        z.writestr(f'{name}/data.pkl', pkl)
        for key, data in storages.items():
            z.writestr(f'{name}/data/{key}', data)
        z.writestr(f'{name}/version', '3\n')
    return b.getvalue()

f32 = lambda *v: struct.pack(f'<{len(v)}f', *v)
s0 = Storage('0', 'FloatStorage', f32(*range(6)))
s1 = Storage('1', 'LongStorage', struct.pack('<4q', 1, 2, 3, 4))
s2 = Storage('2', 'HalfStorage', struct.pack('<4e', 0.5, 1, 2, -3))
s3 = Storage('3', 'BFloat16Storage', b'\x80\x3f\x00\x40')
s4 = Storage('4', 'FloatStorage', f32(1.5))
variants = {
    'plain': ({'visual_encoder.cls_token': Tensor(s0, 0, [2, 3], [3, 1]),
               'text_encoder.embeddings.position_ids': Tensor(s1, 0, [1, 4], [4, 1])},
              {'config': {'image_size': 32, 'vit': 'base', 'queue_size': 57600}, 'epoch': 0}),
    'dtypes': ({'a': Tensor(s2, 0, [4], [1]), 'b': Tensor(s3, 0, [2], [1]), 'temp': Parameter(Tensor(s4, 0, [], []))},
               {'epoch': 3}),
    'views': ({'t': Tensor(s0, 1, [2, 2], [1, 3]), 'shared': Tensor(s0, 0, [6], [1]), 'empty': Tensor(s0, 0, [0, 3], [3, 1])},
              None),
    'momentum': ({'visual_encoder_m.x': Tensor(s4, 0, [1], [1]), 'image_queue': Tensor(s0, 0, [3, 2], [2, 1]),
                  'vision_proj.weight': Tensor(s0, 0, [3, 2], [1, 3])}, {'optimizer': {'lr': 0.001}}),
}
for name, (tensors, extra) in variants.items():
    pkl, storages = checkpoint(tensors, extra)
    write('fuzz_pickle', f'{name}.pkl', pkl)
    write('fuzz_pth', f'{name}.pth', pth('archive', pkl, storages))
pkl, storages = checkpoint(variants['plain'][0], wrap=False)
write('fuzz_pickle', 'bare.pkl', pkl)
write('fuzz_pth', 'bare.pth', pth('model_base_retrieval', pkl, storages))
write('fuzz_pickle', 'protocol4.pkl', pickle.dumps({'epoch': 1, 'list': [1, 2.5, 'x', None, True, b'b' * 3]}, protocol=4))
# The fixture's real data.pkl (a whole tiny UniAdapter state dict, momentum copies, queues).
fixture = os.path.join(fixtures, 'uniadapter', 'weights', 'retrieval.pth')
if os.path.exists(fixture):
    with zipfile.ZipFile(fixture) as z:
        name = next(n for n in z.namelist() if n.endswith('/data.pkl'))
        write('fuzz_pickle', 'fixture-retrieval.pkl', z.read(name))
else:
    print(f'fuzz-seeds: {fixture} missing; the pickle corpus lacks the real checkpoint', file=sys.stderr)

# safetensors: u64 little-endian header length, JSON header, data.
def safetensors(tensors, metadata=None):
    header, data = {}, b''
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header['__metadata__'] = metadata
    h = json.dumps(header).encode()
    return struct.pack('<Q', len(h)) + h + data
st = {
    'plain': safetensors({'vision_proj.weight': ('F32', [2, 3], f32(*range(6))), 'temp': ('F32', [], f32(0.07))}, {'format': 'pt'}),
    'dtypes': safetensors({'h': ('F16', [2], struct.pack('<2e', 1, 2)), 'b': ('BF16', [1], b'\x80\x3f'),
                           'i': ('I64', [2], struct.pack('<2q', 7, -1)), 'u': ('U8', [3], b'abc'),
                           'z': ('F32', [0, 4], b''), 'd': ('F64', [1], struct.pack('<d', 2.0)),
                           'o': ('BOOL', [2], b'\x00\x01')}),
    'nometa': safetensors({'x': ('F32', [1, 1, 1], f32(3))}),
}
for name, data in st.items():
    write('fuzz_safetensors', f'{name}.safetensors', data)

arch = None
case = os.path.join(fixtures, 'uniadapter', 'retrieval-image', 'case.json')
if os.path.exists(case):
    with open(case) as f:
        arch = json.load(f)['architecture']
arch = arch or {'vision': {'image_size': 32, 'patch_size': 16, 'width': 64, 'depth': 2, 'heads': 4}}
def pack(task, mode, vision, tensors):
    meta = {'format': 'pt', 'unisearch.pack': '1', 'name': f'{task}-{mode}', 'base_model': 'tiny',
            'base_fingerprint': 'ab' * 32, 'task': task, 'mode': mode, 'architecture': json.dumps(arch),
            'train_examples': '24', 'validation_examples': '6',
            'metrics': json.dumps({'before': {'recall_at_1': 0.25}, 'after': {'recall_at_1': 0.5}}),
            'created_at': '2026-01-01T00:00:00Z', 'app_version': '0.1.0', 'touches_vision': vision}
    return safetensors(tensors, meta)
write('fuzz_adapterpack', 'query.safetensors', pack('retrieval', 'query', 'false', {
    'text_encoder.encoder.layer.0.adapter.up_proj.weight': ('F32', [2, 2], f32(1, 2, 3, 4)),
    'text_proj.weight': ('F32', [1, 2], f32(5, 6)), 'temp': ('F32', [], f32(0.07))}))
write('fuzz_adapterpack', 'vqa-full.safetensors', pack('vqa', 'full', 'true', {
    'visual_encoder.blocks.0.adapter.visual_up.weight': ('BF16', [1], b'\x80\x3f')}))
write('fuzz_adapterpack', 'not-a-pack.safetensors', st['plain'])

# Text: the fixture's awkward strings, each behind a byte of knobs (fuzz_text.cpp).
texts = ['A dog running on the beach.', "What breed is the dog?", '  Shrek\'s  "kitchen" (2019) ~ #xmas  ',
         'İstanbul ΣΊΣΥΦΟΣ straße ﬁ', '東京タワー 夜景 🐶🐕', 'x' * 130, 'a\tb\nc\r\x00d', '[SEP] [CLS] ##ing',
         '\xff\xfe broken utf-8 \xc3']
if os.path.exists(os.path.join(fixtures, 'uniadapter', 'tokenizer', 'case.json')):
    with open(os.path.join(fixtures, 'uniadapter', 'tokenizer', 'case.json')) as f:
        texts += [c['text'] for c in json.load(f)['cases']]
for i, t in enumerate(texts):
    raw = t.encode('utf-8', 'surrogateescape') if isinstance(t, str) else t
    if t.startswith('\xff'):
        raw = b'\xff\xfe broken utf-8 \xc3'
    write('fuzz_text', f'text{i:02d}', bytes([(i * 37) & 0xff]) + raw)

# Training data (a.jpg and b.jpg exist beside the file the target writes).
training = {
    'captions.csv': 'path,caption\na.jpg,a dog on the beach\nb.jpg,"grandma\'s kitchen, at christmas"\n',
    'names.csv': 'a.jpg,Shrek,name\nb.jpg,the village of Ely,name\n',
    'vqa.csv': 'path,question,answer\na.jpg,what breed is the dog?,corgi|welsh corgi\nb.jpg,how many cats?,2\n',
    'coco.json': json.dumps({'images': [{'id': 1, 'file_name': 'a.jpg'}, {'id': 2, 'file_name': 'b.jpg'}],
                             'annotations': [{'image_id': 1, 'caption': 'a dog'}, {'image_id': 2, 'caption': 'a cat'}]}),
    'list.json': json.dumps([{'image': 'a.jpg', 'caption': ['a dog', 'a corgi']}, {'image': 'b.jpg', 'caption': 'a cat'}]),
    'vqa.json': json.dumps([{'image': 'a.jpg', 'question': 'what is it?', 'answer': ['dog', 'dog', 'corgi']}]),
}
for name, text in training.items():
    write('fuzz_training', name, text)

# Hand-made SQLite files: foreign, newer, negative schema version, a look-alike schema.
def db(name, statements):
    path = os.path.join(target('fuzz_catalog'), name)
    con = sqlite3.connect(path)
    for s in statements:
        con.execute(s)
    con.commit(); con.close()
db('foreign.sqlite', ['CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT)', "INSERT INTO photos VALUES(1,'x')"])
db('newer.sqlite', ['CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)', 'PRAGMA user_version = 999'])
db('negative.sqlite', ['PRAGMA user_version = -1'])
db('lookalike.sqlite', ['CREATE TABLE items(id INTEGER PRIMARY KEY, path BLOB)', "INSERT INTO items VALUES(1, x'00ff')",
                        'PRAGMA user_version = 1'])
write('fuzz_catalog', 'not-sqlite', 'SQLite format 3\x00' + '\x10' * 84)

# Search queries (fuzz_query.cpp): combined terms, weights, quotes, file and item terms, FTS5
# operators that must stay words (beach.jpg and "a b.jpg" exist in the target's scratch dir).
queries = ['a dog on the beach', '2:a dog on the beach - people + ./beach.jpg', '"a + b" + c', '0.5:x - 1e3:y',
           'item:42 + cat', './a b.jpg - "sunset"', 'invoice 4471', 'NEAR(a b) OR c AND NOT d*', '"unterminated',
           ' + ', 'a -  - b', 'nan:x', '-1:x', '~/missing.jpg + a', 'x:y:z', '名前 + 東京 - ΣΊΣΥΦΟΣ', 'a\x00b']
for i, q in enumerate(queries):
    write('fuzz_query', f'query{i:02d}', q)
# The input that crashed Qt's MIME glob matcher through the parser (fixed in query.cpp).
write('fuzz_query', 'mime-crash', b'2:a' + b'\xff' * 10 + b'<\xff\xff\xffhd\x00\x00\x00.jpg')

# Dictionaries: the tokens each format is built from, so mutations can splice them in.
dicts = {
    'safetensors': ['"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', '"F32"', '"F16"', '"BF16"', '"I64"',
                    '"U8"', '"BOOL"', '"F64"', '"I32"', '[]', '[0,', '{}'],
    'adapterpack': ['"unisearch.pack"', '"1"', '"base_fingerprint"', '"task"', '"retrieval"', '"vqa"', '"mode"',
                    '"architecture"', '"metrics"', '"touches_vision"', '"dtype"', '"shape"', '"data_offsets"',
                    '"__metadata__"'],
    'pickle': ['ctorch._utils\\x0a_rebuild_tensor_v2\\x0a', 'ccollections\\x0aOrderedDict\\x0a',
               'ctorch\\x0aFloatStorage\\x0a', 'X\\x07\\x00\\x00\\x00storage', '\\x80\\x02', 'q\\x00', 'h\\x00', '(', 't', 'R',
               'Q', '}', ']', 'u', 'e', '.'],
    'training': ['path,caption\\x0a', 'path,question,answer\\x0a', ',name', '"images"', '"annotations"', '"image_id"',
                 '"file_name"', '"caption"', '"question"', '"answer"', '"image"', 'a.jpg', '|'],
}
for name, tokens in dicts.items():
    with open(os.path.join(out, f'{name}.dict'), 'w') as f:
        f.writelines(f'"{t}"\n' if not t.startswith('"') else '"' + t.replace('"', '\\"') + '"\n' for t in tokens)
PY

# --- images and videos: ffmpeg --------------------------------------------------------
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
img="$SEEDS_DIR/fuzz_imagedecoder"
mkdir -p "$img"
src=(-f lavfi -i "testsrc=size=48x32:rate=1" -frames:v 1)
ff "${src[@]}" "$work/rgb.png"
ff "${src[@]}" -pix_fmt gray "$work/gray.png"
ff "${src[@]}" -pix_fmt rgba "$work/rgba.png"
ff "${src[@]}" -pix_fmt rgb48be "$work/deep.png"
ff "${src[@]}" -pix_fmt pal8 "$work/palette.png"
ff "${src[@]}" -q:v 5 "$work/photo.jpg"
ff "${src[@]}" -pix_fmt gray -q:v 5 "$work/gray.jpg"
ff "${src[@]}" "$work/still.bmp"
ff "${src[@]}" "$work/still.ppm"
ff "${src[@]}" -f gif "$work/still.gif"
ff -f lavfi -i "testsrc=size=32x24:rate=4" -frames:v 3 -f gif "$work/anim.gif"
python3 - "$work/photo.jpg" "$work/rotated.jpg" <<'PY'
# The same JPEG with an EXIF APP1 segment saying "rotate 90° clockwise" (orientation 6).
import struct, sys
jpeg = open(sys.argv[1], 'rb').read()
tiff = b'II*\x00' + struct.pack('<I', 8) + struct.pack('<H', 1) + struct.pack('<HHII', 0x0112, 3, 1, 6) + struct.pack('<I', 0)
app1 = b'Exif\x00\x00' + tiff
open(sys.argv[2], 'wb').write(jpeg[:2] + b'\xff\xe1' + struct.pack('>H', len(app1) + 2) + app1 + jpeg[2:])
PY
head -c 400 "$work/photo.jpg" > "$work/truncated.jpg"
# HEIC, AVIF (libheif) and JPEG XL (libjxl), when Debian's tools are installed (install-deps.sh).
if command -v heif-enc >/dev/null; then
  heif-enc -q 50 "$work/rgb.png" -o "$work/still.heic" >/dev/null
  heif-enc -A -q 50 "$work/rgb.png" -o "$work/still.avif" >/dev/null
  head -c 300 "$work/still.heic" > "$work/truncated.heic"
fi
if command -v cjxl >/dev/null; then cjxl "$work/rgb.png" "$work/still.jxl" >/dev/null 2>&1; fi
i=0
for f in "$work"/*.png "$work"/*.jpg "$work"/*.bmp "$work"/*.ppm "$work"/*.gif "$work"/*.heic "$work"/*.avif "$work"/*.jxl; do
  [ -e "$f" ] || continue
  # First byte: the target's decode-size knob (fuzz_imagedecoder.cpp), varied over the seeds.
  { printf "\\x$(printf %02x $((i % 4)))"; cat "$f"; } > "$img/$(basename "$f")"
  i=$((i + 1))
done

vid="$SEEDS_DIR/fuzz_videodecoder"
mkdir -p "$vid"
vsrc=(-f lavfi -i "testsrc=size=64x48:rate=5:duration=1")
ff "${vsrc[@]}" -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$vid/h264.mp4"
ff "${vsrc[@]}" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -metadata:s:v:0 rotate=90 "$vid/rotated.mp4"
ff "${vsrc[@]}" -f lavfi -i "sine=duration=1" -c:v mpeg4 -c:a pcm_s16le "$vid/mpeg4-audio.avi"
ff "${vsrc[@]}" -c:v mjpeg -q:v 10 "$vid/mjpeg.mkv"
ff "${vsrc[@]}" -c:v libvpx -b:v 50k "$vid/vp8.webm"
ff "${vsrc[@]}" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -f mpegts "$vid/h264.ts"
ff -f lavfi -i "sine=duration=1" -c:a aac "$vid/audio-only.m4a"
head -c 2000 "$vid/h264.mp4" > "$vid/truncated.mp4"

# --- real catalogs from unisearch-cli, when built -------------------------------------
cli="$BUILD_DIR/app/unisearch-cli"
if [ -x "$cli" ]; then
  data="$work/data"
  UNISEARCH_LOG=error ASAN_OPTIONS=detect_leaks=0 "$cli" --data-dir "$data" status >/dev/null
  cp "$data/catalog.sqlite" "$SEEDS_DIR/fuzz_catalog/empty-catalog.sqlite"
  mkdir -p "$work/photos"
  cp "$work/rgb.png" "$work/photos/a.png"; cp "$work/photo.jpg" "$work/photos/b.jpg"
  weights="$FIXTURES/uniadapter/weights/retrieval.pth"
  if [ -f "$weights" ] && UNISEARCH_LOG=error ASAN_OPTIONS=detect_leaks=0 "$cli" --data-dir "$data" \
       model import "$weights" --name tiny --task retrieval >/dev/null 2>&1 &&
     UNISEARCH_LOG=error ASAN_OPTIONS=detect_leaks=0 "$cli" --data-dir "$data" index "$work/photos" >/dev/null 2>&1; then
    cp "$data/catalog.sqlite" "$SEEDS_DIR/fuzz_catalog/indexed-catalog.sqlite"
  else
    echo "fuzz-seeds: could not index with $cli; the catalog corpus has no indexed library" >&2
  fi
else
  echo "fuzz-seeds: $cli not built; the catalog corpus has only hand-made files" >&2
fi

for d in "$SEEDS_DIR"/*/; do
  printf 'fuzz-seeds: %-18s %3d files %6d KB\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)" "$(du -sk "$d" | cut -f1)"
done
