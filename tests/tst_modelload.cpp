// Placeholder: filled in by its owner.
#include <QtTest>

class Placeholder : public QObject
{
    Q_OBJECT
private slots:
    void todo() { QFAIL("not written yet"); }
};

QTEST_GUILESS_MAIN(Placeholder)
#include "tst_modelload.moc"
