#pragma once
// Where a file Unisearch ships (the tokenizer vocabulary, the model catalogue) is found:
// the same places for every such file, so that an installed package, an AppImage and a
// build tree all work without configuration.
#include <QString>

namespace unisearch::engine {

// The file resources/<relativePath> (e.g. "vocab/bert-base-uncased.txt"), absolute and
// clean: the path in the environment variable envVariable when it is set (empty when that
// is not a file: a person who names a file means that one); else the first that exists
// of: next to the executable (../share/unisearch/<relativePath>: an installed .deb, an
// AppImage), the XDG data dirs (unisearch/<relativePath> under /usr/share,
// /usr/local/share, ...), the source tree's resources/ (a build tree). Empty when none.
QString locateInstalledFile(const char *envVariable, const QString &relativePath);

} // namespace unisearch::engine
