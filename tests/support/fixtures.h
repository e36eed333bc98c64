#pragma once
// Locating the reference fixtures. UNISEARCH_FIXTURES points at the fixtures root
// (the folder holding uniadapter/ and vocab/); UNISEARCH_UNIADAPTER_FIXTURES may point
// at another fixture set of the uniadapter format. A missing directory is a failure.
#include <QString>
#include <nlohmann/json.hpp>

namespace unisearch::test {

QString fixturesRoot();          // throws std::runtime_error when missing
QString uniadapterDir();         // <root>/uniadapter unless overridden
QString caseDir(const QString &caseName);
nlohmann::json readCase(const QString &caseName); // case.json of a case
QString vocabPath();             // the project's resources/ copy of the vocab
QString sourceDir();             // project root
QString caseWeights(const QString &caseName);          // the case's checkpoint, absolute
QString caseArchitectureJson(const QString &caseName); // its "architecture" object, as JSON text

// QStandardPaths' test mode (nothing of the user's is read or written), with a settings
// folder of this process's own: test programs that CTest runs side by side otherwise share
// ~/.qttest/config, and one program's settings (re-ranking on) changed another's results.
// Call before the first QSettings is made; the folder is removed at exit.
void isolateUserSettings();

} // namespace unisearch::test
