#pragma once
// The training page's plot (trainrunpage.h): the loss of every step as a line (scaled to
// its own range, left), and the held-out validation value at each epoch's end as a second
// series on its own 0..1 axis (right).
#include <QList>
#include <QPointF>
#include <QString>
#include <QWidget>

namespace unisearch::ui {

class LossPlot : public QWidget
{
public:
    explicit LossPlot(QWidget *parent);
    void add(double v, int totalSteps);
    void addValidation(int step, double value, int totalSteps);
    void setValidationName(const QString &name);
    void clear();
    int count() const { return int(m_values.size()); }
    QList<QPointF> validationPoints() const { return m_validation; }

protected:
    void paintEvent(QPaintEvent *) override;

private:
    QList<double> m_values;
    QList<QPointF> m_validation; // (step, value)
    int m_total = 0;
    QString m_validationName = QObject::tr("held-out");
};

} // namespace unisearch::ui
