"""SVG charts written as plain text: a cohort heat table, a bar chart and a line chart.

Every label is XML-escaped, so a tag or store name can never break the document; the output is
one standalone <svg> element the admin UI can inline or serve as image/svg+xml.
"""

from xml.sax.saxutils import escape

FONT = "font-family=\"sans-serif\" font-size=\"12\""
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


def _num(x):
    """A coordinate with at most 2 decimals and no trailing zeros."""
    return ("%.2f" % x).rstrip("0").rstrip(".")


def _svg(width, height, title, body):
    head = ('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img" %s>'
            % (_num(width), _num(height), _num(width), _num(height), FONT))
    return "\n".join([head, "<title>%s</title>" % escape(title),
                      '<text x="10" y="20" font-size="14" font-weight="bold">%s</text>' % escape(title)]
                     + body + ["</svg>"]) + "\n"


def _text(x, y, text, anchor="start", extra=""):
    return '<text x="%s" y="%s" text-anchor="%s"%s>%s</text>' % (_num(x), _num(y), anchor, extra, escape(str(text)))


def _heat(share):
    """White (0) to dark blue (1) for a share between 0 and 1."""
    share = min(max(float(share), 0.0), 1.0)
    r, g, b = (int(round(255 + (c - 255) * share)) for c in (8, 48, 107))
    return "#%02x%02x%02x" % (r, g, b)


def heat_table(table, title="Retention by monthly cohort"):
    """The cohort table (cohorts.cohort_table) as a grid: a row per cohort, a cell per month since its
    first, shaded by retention."""
    cell_w, cell_h, left, top = 56, 22, 130, 50
    width_cells = max((len(r["rates"]) for r in table), default=1)
    body = [_text(left - 10, top - 8, "cohort (size)", "end")]
    body += [_text(left + k * cell_w + cell_w / 2, top - 8, "M%d" % k, "middle") for k in range(width_cells)]
    for i, row in enumerate(table):
        y = top + i * cell_h
        body.append(_text(left - 10, y + 15, "%s (%d)" % (row["cohort"], row["size"]), "end"))
        for k, rate in enumerate(row["rates"]):
            x = left + k * cell_w
            body.append('<rect x="%s" y="%s" width="%d" height="%d" fill="%s" stroke="#ffffff"/>'
                        % (_num(x), _num(y), cell_w, cell_h, _heat(rate)))
            colour = "#ffffff" if rate > 0.5 else "#000000"
            body.append(_text(x + cell_w / 2, y + 15, "%.1f%%" % (float(rate) * 100), "middle",
                              ' fill="%s"' % colour))
    if not table:
        body.append(_text(left, top + 15, "no cohorts in this window"))
    return _svg(left + width_cells * cell_w + 20, top + max(len(table), 1) * cell_h + 20, title, body)


def bar_chart(labels, values, title, unit=""):
    """Vertical bars, one per label, each with its value written above it (values >= 0)."""
    bar_w, gap, left, top, plot_h = 40, 12, 50, 40, 200
    high = max([v for v in values if v is not None] + [0]) or 1
    body = ['<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000000"/>'
            % (left, top + plot_h, left + len(labels) * (bar_w + gap) + gap, top + plot_h)]
    for i, (name, value) in enumerate(zip(labels, values)):
        x = left + gap + i * (bar_w + gap)
        h = plot_h * (value or 0) / high
        body.append('<rect x="%s" y="%s" width="%d" height="%s" fill="%s"><title>%s</title></rect>'
                    % (_num(x), _num(top + plot_h - h), bar_w, _num(h), PALETTE[0],
                       escape("%s: %s%s" % (name, value, unit))))
        body.append(_text(x + bar_w / 2, top + plot_h - h - 4, "%s%s" % (value, unit), "middle"))
        body.append(_text(x + bar_w / 2, top + plot_h + 16, name, "middle"))
    return _svg(left + len(labels) * (bar_w + gap) + gap + 20, top + plot_h + 40, title, body)


def line_chart(x_labels, series, title):
    """One polyline per ``(name, values)`` in ``series`` over the ``x_labels``, with a legend."""
    step, left, top, plot_h = 60, 60, 40, 200
    plot_w = max(len(x_labels) - 1, 1) * step
    values = [v for _, vs in series for v in vs if v is not None]
    low, high = min(values + [0]), max(values + [0])
    span = (high - low) or 1

    def y(v):
        return top + plot_h - plot_h * (v - low) / span

    axis = '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000000"/>'
    body = [axis % (left, top + plot_h, left + plot_w, top + plot_h), axis % (left, top, left, top + plot_h),
            _text(left - 6, top + 4, high, "end"), _text(left - 6, top + plot_h + 4, low, "end")]
    body += [_text(left + i * step, top + plot_h + 16, name, "middle") for i, name in enumerate(x_labels)]
    for n, (name, vs) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join("%s,%s" % (_num(left + i * step), _num(y(v))) for i, v in enumerate(vs) if v is not None)
        body.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>'
                    % (colour, points, escape(str(name))))
        ly = top + 14 * n
        body.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>' % (left + plot_w + 20, ly, colour))
        body.append(_text(left + plot_w + 34, ly + 9, name))
    legend = max([len(str(name)) for name, _ in series] + [0]) * 8
    return _svg(left + plot_w + 50 + legend, top + max(plot_h + 40, 14 * len(series) + 10), title, body)
