#include "qtapp.h"

#include <QCoreApplication>

namespace unisearch::fuzz {

void ensureCoreApplication()
{
    // Qt keeps argc/argv for the life of the application; libFuzzer's own flags stay out.
    static int argc = 1;
    static char arg0[] = "unisearch-fuzz";
    static char *argv[] = {arg0, nullptr};
    static QCoreApplication app(argc, argv);
}

} // namespace unisearch::fuzz
