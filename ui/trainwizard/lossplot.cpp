#include "ui/trainwizard/lossplot.h"

#include <QPainter>

#include <algorithm>

namespace unisearch::ui {

LossPlot::LossPlot(QWidget *parent)
    : QWidget(parent)
{
    setMinimumHeight(140);
}

void LossPlot::add(double v, int totalSteps)
{
    m_values.append(v);
    m_total = std::max(m_total, totalSteps);
    update();
}

void LossPlot::addValidation(int step, double value, int totalSteps)
{
    m_validation.append(QPointF(step, value));
    m_total = std::max(m_total, totalSteps);
    update();
}

void LossPlot::setValidationName(const QString &name)
{
    m_validationName = name;
    update();
}

void LossPlot::clear()
{
    m_values.clear();
    m_validation.clear();
    m_total = 0;
    update();
}

void LossPlot::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.fillRect(rect(), palette().base());
    p.setRenderHint(QPainter::Antialiasing);
    const QFontMetrics fm(font());
    const double left = 4, top = fm.height() + 6, right = fm.horizontalAdvance(QStringLiteral("0.0")) + 8;
    const QRectF area(left, top, std::max(1.0, width() - left - right), std::max(1.0, height() - top - 4));
    const int steps = std::max({m_total, int(m_values.size()), 2});
    auto x = [&](double step) { return area.left() + area.width() * (step - 1) / double(steps - 1); };
    const QColor lossColor = palette().highlight().color();
    const QColor valColor(230, 120, 20);
    // Legend.
    p.setPen(QPen(lossColor, 2));
    p.drawLine(QPointF(left, fm.height() / 2.0 + 2), QPointF(left + 16, fm.height() / 2.0 + 2));
    p.setPen(palette().text().color());
    // The first and the latest loss: the line has its own scale.
    const QString lossName = m_values.isEmpty()
        ? tr("loss")
        : tr("loss %1 → %2").arg(m_values.front(), 0, 'g', 3).arg(m_values.back(), 0, 'g', 3);
    p.drawText(QPointF(left + 20, fm.ascent() + 2), lossName);
    const double lx = left + 28 + fm.horizontalAdvance(lossName);
    p.setPen(QPen(valColor, 2));
    p.drawLine(QPointF(lx, fm.height() / 2.0 + 2), QPointF(lx + 16, fm.height() / 2.0 + 2));
    p.setPen(palette().text().color());
    p.drawText(QPointF(lx + 20, fm.ascent() + 2), m_validationName + tr(" (0–1, right)"));
    // The validation axis.
    p.setPen(palette().mid().color());
    p.drawLine(area.topRight(), area.bottomRight());
    p.drawText(QPointF(area.right() + 3, area.top() + fm.ascent()), QStringLiteral("1"));
    p.drawText(QPointF(area.right() + 3, area.bottom()), QStringLiteral("0"));
    if (m_values.size() >= 2) {
        double lo = m_values.front(), hi = m_values.front();
        for (double v : m_values) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        if (hi - lo < 1e-9)
            hi = lo + 1;
        QPolygonF line;
        for (qsizetype i = 0; i < m_values.size(); ++i)
            line << QPointF(x(double(i + 1)), area.top() + area.height() * (1 - (m_values[i] - lo) / (hi - lo)));
        p.setPen(QPen(lossColor, 2));
        p.drawPolyline(line);
    }
    if (!m_validation.isEmpty()) {
        QPolygonF line;
        for (const QPointF &v : m_validation)
            line << QPointF(x(v.x()), area.top() + area.height() * (1 - std::clamp(v.y(), 0.0, 1.0)));
        p.setPen(QPen(valColor, 2));
        p.drawPolyline(line);
        p.setBrush(valColor);
        for (const QPointF &pt : line)
            p.drawEllipse(pt, 3, 3);
    }
}

} // namespace unisearch::ui
