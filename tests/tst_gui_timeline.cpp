// (to be written)
#include <QtTest>
class Placeholder : public QObject
{
    Q_OBJECT
};
QTEST_MAIN(Placeholder)
#include "tst_gui_timeline.moc"
