// Placeholder: filled in by its owner.
#include <QtTest>

class Placeholder : public QObject
{
    Q_OBJECT
private slots:
    void todo() { QFAIL("not written yet"); }
};

QTEST_MAIN(Placeholder)
#include "tst_gui_instant.moc"
