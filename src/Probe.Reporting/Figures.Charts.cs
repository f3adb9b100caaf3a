using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace Probe.Reporting;

public static partial class Figures
{
    /// <summary>
    /// Stacked vertical bars: one bar per category (e.g. layer), one stacked segment per series (e.g. alive / dying /
    /// dead fraction). Colours are "#RRGGBB" strings, one per series (default: the categorical palette).
    /// </summary>
    public static PlotModel StackedBar(string[] categories, IReadOnlyList<NamedSeries> series, string? title = null,
        string? yTitle = "fraction of units", string[]? colors = null, double? yMax = null, FigureStyle? style = null)
    {
        const string fig = "StackedBar";
        style ??= FigureStyle.Column;
        Check.NotEmpty(categories, fig, "categories");
        Check.NotEmpty(series, fig, "series");
        foreach (var s in series)
        {
            Check.NotNull(s, fig, "a series");
            Check.Length(s.Values, categories.Length, fig, $"series '{s.Name}'", "categories");
            Check.Finite(s.Values, fig, $"series '{s.Name}'");
            for (int i = 0; i < s.Values.Length; i++)
                if (s.Values[i] < 0)
                    throw new ProbeException($"{fig}: series '{s.Name}'[{i}] is {Check.S(s.Values[i])}; stacked bars need values >= 0.");
        }
        var palette = ParseColors(colors, series.Count, fig);

        var model = NewModel(title, style);
        var cat = new CategoryAxis
        {
            Position = AxisPosition.Bottom,
            Key = "categories",
            TickStyle = TickStyle.None,
            GapWidth = 0.35,
            IsZoomEnabled = false,
            IsPanEnabled = false,
            MajorGridlineStyle = LineStyle.None,
            Font = style.FontFamily,
        };
        cat.Labels.AddRange(categories);
        if (categories.Length > 3 && categories.Max(c => c.Length) > 5) cat.Angle = -45;
        var val = ValueAxis(AxisPosition.Left, yTitle, style, key: "values");
        val.Minimum = 0;
        val.MinimumPadding = 0;
        val.MaximumPadding = 0;
        double total = Enumerable.Range(0, categories.Length).Max(i => series.Sum(s => s.Values[i]));
        val.Maximum = yMax ?? (total <= 1.0 + 1e-9 ? 1.0 : total * 1.05);
        model.Axes.Add(cat);
        model.Axes.Add(val);

        for (int k = 0; k < series.Count; k++)
        {
            var bar = new BarSeries
            {
                Title = series[k].Name,
                IsStacked = true,
                FillColor = palette[k],
                StrokeColor = OxyColors.White,
                StrokeThickness = FigureStyle.Pt(0.3),
                XAxisKey = "values",
                YAxisKey = "categories",
            };
            foreach (var v in series[k].Values) bar.Items.Add(new BarItem(v));
            model.Series.Add(bar);
        }
        var legend = ClassLegend(style);
        legend.LegendItemOrder = LegendItemOrder.Reverse; // top of the stack first, as drawn
        model.Legends.Add(legend);
        return model;
    }

    /// <summary>
    /// Histogram of <paramref name="values"/> (e.g. per-unit firing rates) with <paramref name="bins"/> equal bins over
    /// [min, max] (default: the data's range). Values outside an explicit range are not counted (as in numpy).
    /// </summary>
    public static PlotModel Histogram(double[] values, int bins = 20, double? min = null, double? max = null,
        string? title = null, string? xTitle = null, string? yTitle = "count", FigureStyle? style = null)
    {
        const string fig = "Histogram";
        style ??= FigureStyle.Column;
        Check.Finite(values, fig, "values");
        if (values.Length == 0) throw new ProbeException($"{fig}: values is empty.");
        if (bins < 1 || bins > 10_000) throw new ProbeException($"{fig}: bins must be between 1 and 10000, got {bins}.");
        double lo = min ?? values.Min(), hi = max ?? values.Max();
        if (hi <= lo) { lo -= 0.5; hi += 0.5; }
        Check.Range(lo, hi, fig, "range");
        var counts = HistogramCounts(values, bins, lo, hi);

        var model = NewModel(title, style);
        model.Axes.Add(ValueAxis(AxisPosition.Bottom, xTitle, style));
        var y = ValueAxis(AxisPosition.Left, yTitle, style);
        y.Minimum = 0;
        y.MinimumPadding = 0;
        y.MaximumPadding = 0.06;
        model.Axes.Add(y);
        var hs = new HistogramSeries
        {
            FillColor = Palettes.ClassColor(4),
            StrokeColor = OxyColors.White,
            StrokeThickness = FigureStyle.Pt(0.3),
        };
        double width = (hi - lo) / bins;
        for (int b = 0; b < bins; b++)
        {
            double a = lo + b * width, e = b == bins - 1 ? hi : lo + (b + 1) * width;
            hs.Items.Add(new HistogramItem(a, e, counts[b] * (e - a), counts[b]));
        }
        model.Series.Add(hs);
        return model;
    }

    /// <summary>Counts per bin for <paramref name="bins"/> equal bins over [min, max]; the last bin includes max, values outside are skipped.</summary>
    public static int[] HistogramCounts(double[] values, int bins, double min, double max)
    {
        Check.Range(min, max, "Histogram", "range");
        if (bins < 1) throw new ProbeException($"Histogram: bins must be at least 1, got {bins}.");
        var counts = new int[bins];
        double width = (max - min) / bins;
        foreach (var v in values)
        {
            if (!(v >= min && v <= max)) continue;
            int b = v == max ? bins - 1 : (int)Math.Floor((v - min) / width);
            counts[Math.Clamp(b, 0, bins - 1)]++;
        }
        return counts;
    }

    /// <summary>
    /// Lines over categorical x positions (e.g. layers); one line per series (e.g. per checkpoint). The x labels are
    /// fitted to the room each position has at the style's size (<see cref="FitCategoryLabels"/>): horizontal, turned
    /// 45 degrees, or upright with only every k-th named, never running into each other or off the figure.
    /// <paramref name="showLegend"/> false leaves the legend out (one series that the y title already names).
    /// </summary>
    public static PlotModel LineChart(string[] xLabels, IReadOnlyList<NamedSeries> series, string? title = null,
        string? xTitle = null, string? yTitle = null, bool sequentialColors = false, double? yMin = null, double? yMax = null,
        FigureStyle? style = null, bool showLegend = true)
    {
        const string fig = "LineChart";
        style ??= FigureStyle.Column;
        Check.NotEmpty(xLabels, fig, "x labels");
        var x = IndexAxis(AxisPosition.Bottom, xLabels, xTitle, style);
        x.Minimum = -0.3;
        x.Maximum = xLabels.Length - 0.7;
        var positions = Enumerable.Range(0, xLabels.Length).Select(i => (double)i).ToArray();
        var model = BuildLines(positions, x, series, title, yTitle, sequentialColors, yMin, yMax, style, fig);
        if (!showLegend) model.Legends.Clear();
        FitCategoryLabels(model, x, xLabels, style);
        return model;
    }

    /// <summary>
    /// Fits the labels of a categorical x axis (one per integer position) to the room a position has in the laid-out
    /// plot, as <see cref="FitHeatmap"/> fits a heatmap's column labels: horizontal while the widest label fits a
    /// position; else turned 45 degrees while positions are at least sqrt(2) lines apart; else upright, every k-th
    /// labelled (k = 1, 2, 5, 10, ...) and every position keeping a tick. The left margin grows when the first labels
    /// would hang off the figure, and a y title longer than the plot is tall is broken at spaces into lines. The font
    /// size never changes.
    /// </summary>
    internal static void FitCategoryLabels(PlotModel model, LinearAxis x, string[] labels, FigureStyle style)
    {
        double f = style.FontUnits, line = TextHeight(style), pitch = line + LabelGap * f;
        var widths = labels.Select(l => TextWidth(l, style)).ToArray();
        double widest = widths.Max();
        // A label at 45 degrees ends at its tick and hangs to the left by sqrt(1/2) (width + half a line); a horizontal
        // one is centred on its tick.
        var hang45 = widths.Select(w => Math.Sqrt(0.5) * (w + line / 2)).ToArray();
        var y = model.Axes.FirstOrDefault(a => a.Position == AxisPosition.Left);
        string? yTitle = y?.Title;
        int turn = 0, step = 1;
        double left = 0;
        bool wrapY = false;
        for (int pass = 0; ; pass++)
        {
            if (y != null && yTitle != null) y.Title = wrapY ? FigureExporter.Wrap(yTitle, model.PlotArea.Height, style, f, 400) : yTitle;
            x.Angle = turn switch { 0 => 0, 1 => -45, _ => -90 };
            x.MajorStep = step;
            x.MinorStep = 1;
            x.MajorTickSize = f * 0.35;
            x.MinorTickSize = step == 1 ? 0 : f * 0.2;
            model.PlotMargins = new OxyThickness(left > 0 ? left : double.NaN, double.NaN, double.NaN, double.NaN);
            FigureExporter.LayOut(model, style);
            double unit = model.PlotArea.Width / (x.Maximum - x.Minimum);
            int needTurn = Math.Max(turn, widest + LabelGap * f <= unit ? 0 : unit * Math.Sqrt(0.5) >= pitch ? 1 : 2);
            int needStep = needTurn == 2 ? Math.Max(step, NiceStep(pitch / unit)) : 1;
            double overhang = Enumerable.Range(0, labels.Length).Max(i => needTurn switch
            {
                0 => widths[i] / 2,
                1 => hang45[i],
                _ => i % needStep == 0 ? line / 2 : 0,
            } - (i - x.Minimum) * unit);
            double auto = model.Axes.Where(a => a.IsAxisVisible).Max(a => a.DesiredMargin.Left);
            double needLeft = overhang > auto + 0.5 || left > 0 ? Math.Max(left, Math.Max(auto, overhang)) : 0;
            // A y title longer than the plot is tall ran off the figure: it is broken at spaces into lines that fit.
            bool needWrap = wrapY || yTitle != null && TextWidth(yTitle, style) > model.PlotArea.Height;
            if ((needTurn, needStep, needLeft, needWrap) == (turn, step, left, wrapY) || pass == 8) break;
            (turn, step, left, wrapY) = (needTurn, needStep, needLeft, needWrap);
        }
    }

    /// <summary>Lines over numeric x (e.g. training step); one line per series.</summary>
    public static PlotModel LineChart(double[] x, IReadOnlyList<NamedSeries> series, string? title = null,
        string? xTitle = null, string? yTitle = null, bool sequentialColors = false, double? yMin = null, double? yMax = null,
        FigureStyle? style = null)
    {
        const string fig = "LineChart";
        style ??= FigureStyle.Column;
        Check.Finite(x, fig, "x");
        if (x.Length == 0) throw new ProbeException($"{fig}: x is empty.");
        return BuildLines(x, ValueAxis(AxisPosition.Bottom, xTitle, style), series, title, yTitle, sequentialColors, yMin, yMax, style, fig);
    }

    private static PlotModel BuildLines(double[] x, Axis xAxis, IReadOnlyList<NamedSeries> series, string? title, string? yTitle,
        bool sequentialColors, double? yMin, double? yMax, FigureStyle style, string fig)
    {
        Check.NotEmpty(series, fig, "series");
        foreach (var s in series)
        {
            Check.NotNull(s, fig, "a series");
            Check.Length(s.Values, x.Length, fig, $"series '{s.Name}'", "x");
            Check.Finite(s.Values, fig, $"series '{s.Name}'");
        }
        var model = NewModel(title, style);
        model.Axes.Add(xAxis);
        var y = ValueAxis(AxisPosition.Left, yTitle, style);
        if (yMin.HasValue) y.Minimum = yMin.Value;
        if (yMax.HasValue) y.Maximum = yMax.Value;
        model.Axes.Add(y);
        var colors = sequentialColors ? Palettes.Sequential(series.Count) : Enumerable.Range(0, series.Count).Select(Palettes.ClassColor).ToArray();
        var markers = new[] { MarkerType.Circle, MarkerType.Square, MarkerType.Triangle, MarkerType.Diamond };
        for (int k = 0; k < series.Count; k++)
        {
            var ls = new LineSeries
            {
                Title = series[k].Name,
                Color = colors[k],
                StrokeThickness = style.LineUnits,
                MarkerType = x.Length <= 30 ? (sequentialColors ? MarkerType.Circle : markers[k % markers.Length]) : MarkerType.None,
                MarkerSize = style.LineUnits * 1.8,
                MarkerFill = colors[k],
                MarkerStroke = OxyColors.Undefined,
            };
            for (int i = 0; i < x.Length; i++) ls.Points.Add(new DataPoint(x[i], series[k].Values[i]));
            model.Series.Add(ls);
        }
        model.Legends.Add(ClassLegend(style));
        return model;
    }
}
