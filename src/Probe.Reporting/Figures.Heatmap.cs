using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Series;

namespace Probe.Reporting;

public static partial class Figures
{
    /// <summary>
    /// A labelled heatmap (e.g. CKA layer x layer, or model A x model B) with a fixed colour range, a colour bar, and
    /// cell values printed where they fit. values[i][j] is drawn in row i (top to bottom), column j. The colours are
    /// viridis, or, when the range includes negative values (<paramref name="min"/> &lt; 0: RSA's correlations), the
    /// diverging <see cref="Palettes.Diverging"/> centred at 0 over limits symmetric about it (-L to L, L the larger of
    /// |min| and |max|).
    /// The cells are square and the labels fit the room <paramref name="style"/> gives them (see <see cref="FitHeatmap"/>);
    /// export with the same style, and size it with <see cref="HeatmapStyle"/> to leave no empty margin.
    /// </summary>
    public static PlotModel Heatmap(double[][] values, string[] rowLabels, string[] colLabels, string? title = null,
        double min = 0, double max = 1, bool showValues = true, string valueFormat = "0.00", string? colorBarTitle = null,
        string? xTitle = null, string? yTitle = null, FigureStyle? style = null)
    {
        const string fig = "Heatmap";
        var m = Check.Matrix(values, fig, "values");
        Check.Length(rowLabels, m.GetLength(0), fig, "row labels", "values (rows)");
        Check.Length(colLabels, m.GetLength(1), fig, "column labels", "values[0] (columns)");
        Check.Range(min, max, fig, "colour range");
        _ = Fmt(0.5, valueFormat);
        style ??= FigureStyle.Column;
        var model = BuildHeatmap(m, rowLabels, colLabels, title, min, max, showValues, valueFormat, colorBarTitle, xTitle, yTitle,
            HeatMapRenderMethod.Rectangles, style);
        FitHeatmap(model, style, rowLabels, colLabels, colorBarTitle);
        return model;
    }

    /// <summary>Width of one heatmap cell a figure aims for when its width is not given, in inches (values print in it at 8 pt).</summary>
    internal const double HeatmapCellInches = 0.42;

    /// <summary>
    /// The style to draw (and export) a <see cref="Heatmap"/> with these labels and titles at: square cells and no empty
    /// margin. The width is <paramref name="settings"/>' when given; otherwise about <see cref="HeatmapCellInches"/> a
    /// column plus the labels, at least one journal column (<see cref="FigureStyle.Column"/>) and at most a page's text
    /// width (<see cref="FigureStyle.Page"/>): more layers make smaller cells, never a wider figure. The height is what
    /// square cells of that width need, at most <see cref="FigureStyle.PageTextHeightInches"/> (or the width, when
    /// wider); a table too tall for it gets smaller cells (and, at its own width, a narrower figure). Font, resolution
    /// and titles follow <paramref name="settings"/> over the one-column preset.
    /// </summary>
    public static FigureStyle HeatmapStyle(string[] rowLabels, string[] colLabels, string? title = null, double min = 0, double max = 1,
        string? colorBarTitle = null, string? xTitle = null, string? yTitle = null, FigureSettings? settings = null)
    {
        const string fig = "HeatmapStyle";
        Check.NotEmpty(rowLabels, fig, "row labels");
        Check.NotEmpty(colLabels, fig, "column labels");
        Check.Range(min, max, fig, "colour range");
        settings ??= FigureSettings.Default;
        int rows = rowLabels.Length, cols = colLabels.Length;
        var basis = settings.Apply(FigureStyle.Column);
        double width = settings.WidthInches ?? Math.Round(Math.Clamp(HeatmapCellInches * cols + 1.7 + 0.06 * rowLabels.Concat(colLabels).Max(l => l.Length),
            FigureStyle.Column.WidthInches, FigureStyle.Page.WidthInches), 2);
        var empty = new double[rows, cols];
        // The room left over (x, y; OxyPlot units) once the cells are square, at a trial size.
        (double X, double Y) Slack(FigureStyle s) => FitHeatmap(BuildHeatmap(empty, rowLabels, colLabels, title, min, max, false, "0.00",
            colorBarTitle, xTitle, yTitle, HeatMapRenderMethod.Rectangles, s), s, rowLabels, colLabels, colorBarTitle);
        // Laid out taller than it can need, the cells take the width; the height is what is left when the rest is removed.
        double trial = Math.Min(FigureSettings.MaxWidthInches, width * rows / cols + 10);
        double height = trial - Slack(basis with { WidthInches = width, HeightInches = trial }).Y / FigureStyle.UnitsPerInch;
        double cap = Math.Max(FigureStyle.PageTextHeightInches, width);
        if (height > cap)
        {
            height = cap;
            if (settings.WidthInches is null)
                width = Math.Round(Math.Max(FigureStyle.Column.WidthInches, width - Slack(basis with { WidthInches = width, HeightInches = cap }).X / FigureStyle.UnitsPerInch), 2);
        }
        return basis with { WidthInches = width, HeightInches = Math.Round(height, 2) };
    }

    /// <summary>
    /// Firing rate of every unit at every checkpoint as a heatmap: unitsByCheckpoint[c][u] is unit u's rate at
    /// checkpoint c (columns = checkpoints, rows = units). Optionally sorts units by their rate at the last checkpoint.
    /// </summary>
    public static PlotModel UnitTimeline(double[][] unitsByCheckpoint, string[] checkpointLabels, string? title = null,
        double min = 0, double max = 1, bool sortUnitsByFinalRate = false, string colorBarTitle = "firing rate",
        FigureStyle? style = null)
    {
        const string fig = "UnitTimeline";
        var byCheckpoint = Check.Matrix(unitsByCheckpoint, fig, "unitsByCheckpoint");
        int checkpoints = byCheckpoint.GetLength(0), units = byCheckpoint.GetLength(1);
        Check.Length(checkpointLabels, checkpoints, fig, "checkpoint labels", "unitsByCheckpoint (checkpoints)");
        Check.Range(min, max, fig, "colour range");

        var order = Enumerable.Range(0, units).ToArray();
        if (sortUnitsByFinalRate)
            order = order.OrderByDescending(u => byCheckpoint[checkpoints - 1, u]).ThenBy(u => u).ToArray();

        var m = new double[units, checkpoints];
        for (int r = 0; r < units; r++)
            for (int c = 0; c < checkpoints; c++)
                m[r, c] = byCheckpoint[c, order[r]];
        var rowLabels = order.Select(u => u.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        string yTitle = sortUnitsByFinalRate ? "unit (sorted by final rate)" : "unit";
        return BuildHeatmap(m, rowLabels, checkpointLabels, title, min, max, showValues: false, "0.00", colorBarTitle,
            "checkpoint", yTitle, HeatMapRenderMethod.Rectangles, style ?? FigureStyle.Column,
            maxRowLabels: sortUnitsByFinalRate ? 0 : 12);
    }

    /// <summary>m[row, col]; row 0 at the top.</summary>
    internal static PlotModel BuildHeatmap(double[,] m, string[] rowLabels, string[] colLabels, string? title, double min,
        double max, bool showValues, string valueFormat, string? colorBarTitle, string? xTitle, string? yTitle,
        HeatMapRenderMethod method, FigureStyle style, int maxRowLabels = 40)
    {
        int rows = m.GetLength(0), cols = m.GetLength(1);
        var model = NewModel(title, style);

        var x = IndexAxis(AxisPosition.Bottom, colLabels, xTitle, style);
        x.TickStyle = TickStyle.None;
        if (colLabels.Length > 3 && colLabels.Max(l => l.Length) > 3) x.Angle = -45;
        var y = IndexAxis(AxisPosition.Left, rowLabels, yTitle, style, maxLabels: Math.Max(1, maxRowLabels));
        y.StartPosition = 1;
        y.EndPosition = 0;
        y.TickStyle = TickStyle.None;
        if (maxRowLabels == 0) { y.LabelFormatter = _ => string.Empty; }
        model.Axes.Add(x);
        model.Axes.Add(y);

        // Signed values (a range that includes negatives: RSA's correlations, [-1, 1]) are drawn in a diverging palette
        // centred at 0 over limits symmetric about it, so that the hue shows the sign and a value and its negative are
        // equally strong; viridis, sequential, coloured 0 mid-teal and hid the sign. Other ranges keep viridis.
        bool signed = min < 0;
        if (signed)
        {
            double limit = Math.Max(-min, Math.Abs(max));
            (min, max) = (-limit, limit);
        }
        var palette = signed ? Palettes.Diverging() : Palettes.Viridis(256);
        model.Axes.Add(new LinearColorAxis
        {
            Position = AxisPosition.Right,
            Palette = palette,
            Minimum = min,
            Maximum = max,
            LowColor = OxyColors.Undefined,
            HighColor = OxyColors.Undefined,
            MinorTickSize = 0,
            MajorStep = (max - min) / 4,
            StringFormat = "0.##",
            Title = colorBarTitle,
            TickStyle = TickStyle.Outside,
            MajorGridlineStyle = LineStyle.None,
            AxisDistance = style.FontUnits * 0.6,
            IsZoomEnabled = false,
            IsPanEnabled = false,
            Font = style.FontFamily,
        });

        // Fill colours use values clamped to the fixed range; printed values are the true ones.
        var data = new double[cols, rows];
        var raw = new double[cols, rows];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                raw[c, r] = m[r, c];
                data[c, r] = Math.Clamp(m[r, c], min, max);
            }

        model.Series.Add(new LabeledHeatMapSeries
        {
            X0 = 0,
            X1 = cols - 1,
            Y0 = 0,
            Y1 = rows - 1,
            Data = data,
            CoordinateDefinition = HeatMapCoordinateDefinition.Center,
            RenderMethod = method,
            Interpolate = false,
            ShowValues = showValues,
            RawValues = raw,
            ValueFormat = valueFormat,
            FontSize = style.FontUnits * 0.85,
        });
        return model;
    }

    /// <summary>Space between neighbouring tick labels, in font sizes.</summary>
    const double LabelGap = 0.2;

    /// <summary>
    /// Makes a heatmap's tick labels fit its cells and its cells square, for the size of <paramref name="style"/>; returns
    /// the room (x, y; OxyPlot units) left over, which is split evenly on both sides of the cells. The rule, applied
    /// to the layout OxyPlot makes (all decisions only ever move one way, so the passes end):
    /// <list type="bullet">
    /// <item>A cell is min(plot width / columns, plot height / rows): the tighter direction sets it, the other takes the rest.</item>
    /// <item>Row labels (horizontal text) need a line of text and a fifth of the font size each: when the cells are
    /// shorter, only every k-th row is labelled, k the smallest of 1, 2, 5, 10, 20, 50, ... that leaves that room.</item>
    /// <item>Column labels stay horizontal while the widest fits its cell; else they are turned 45 degrees while the
    /// cells are at least sqrt(2) lines apart; else they stand upright (90 degrees), every k-th labelled as the rows.</item>
    /// <item>When labels are thinned, every cell keeps a short tick and the labelled ones a longer one, so the unlabelled
    /// layers can be counted off from their labelled neighbours (the figure's JSON lists them all).</item>
    /// <item>A colour bar title longer than the bar is cut before its " (" (the measure's settings): "RSA (Spearman of
    /// ...)" becomes "RSA"; the figure's title keeps the whole description.</item>
    /// </list>
    /// The font size never changes, so the labels read as the rest of the paper's figures do.
    /// </summary>
    internal static (double X, double Y) FitHeatmap(PlotModel model, FigureStyle style, string[] rowLabels, string[] colLabels, string? colorBarTitle)
    {
        var x = (LinearAxis)model.Axes[0];
        var y = (LinearAxis)model.Axes[1];
        var bar = model.Axes.OfType<LinearColorAxis>().Single();
        int rows = rowLabels.Length, cols = colLabels.Length;
        double f = style.FontUnits, pitch = TextHeight(style) + LabelGap * f;
        var widths = colLabels.Select(l => TextWidth(l, style)).ToArray();
        double widest = widths.Max();
        string? shortTitle = colorBarTitle is { } t && t.IndexOf(" (", StringComparison.Ordinal) is int k and > 0 ? t[..k] : null;
        // Column labels: 0 horizontal, 1 at 45 degrees, 2 upright. A label at 45 degrees hangs to the left of its column
        // by sqrt(1/2) (width + half a line); the left margin is widened when the first ones would leave the figure.
        int turn = 0, xStep = 1, yStep = 1;
        bool cut = false;
        double left = 0;
        var hang = widths.Select(w => Math.Sqrt(0.5) * (w + TextHeight(style) / 2)).ToArray();
        double cell;
        for (int pass = 0; ; pass++)
        {
            x.Angle = turn switch { 0 => 0, 1 => -45, _ => -90 };
            Thin(x, xStep, f);
            Thin(y, yStep, f);
            bar.Title = cut ? shortTitle : colorBarTitle;
            model.PlotMargins = new OxyThickness(left > 0 ? left : double.NaN, double.NaN, double.NaN, double.NaN);
            FigureExporter.LayOut(model, style);
            cell = Math.Min(model.PlotArea.Width / cols, model.PlotArea.Height / rows);
            int needTurn = Math.Max(turn, widest + LabelGap * f <= cell ? 0 : cell * Math.Sqrt(0.5) >= pitch ? 1 : 2);
            int needX = needTurn == 2 ? Math.Max(xStep, NiceStep(pitch / cell)) : 1;
            int needY = Math.Max(yStep, NiceStep(pitch / cell));
            bool needCut = cut || shortTitle != null && TextWidth(colorBarTitle!, style) > cell * rows;
            double overhang = needTurn != 1 ? 0 : Enumerable.Range(0, cols).Max(i => hang[i] - (i + 0.5) * cell);
            double auto = model.Axes.Where(a => a.IsAxisVisible).Max(a => a.DesiredMargin.Left);
            double needLeft = overhang > auto + 0.5 || left > 0 ? Math.Max(left, Math.Max(auto, overhang)) : 0;
            if ((needTurn, needX, needY, needCut, needLeft) == (turn, xStep, yStep, cut, left) || pass == 8) break;
            (turn, xStep, yStep, cut, left) = (needTurn, needX, needY, needCut, needLeft);
        }
        var margins = model.ActualPlotMargins;
        double slackX = model.PlotArea.Width - cell * cols, slackY = model.PlotArea.Height - cell * rows;
        model.PlotMargins = new OxyThickness(margins.Left + slackX / 2, margins.Top + slackY / 2, margins.Right + slackX / 2, margins.Bottom + slackY / 2);
        return (slackX, slackY);
    }

    /// <summary>Labels every <paramref name="step"/>-th position of an index axis; thinned, every position keeps a tick.</summary>
    static void Thin(LinearAxis axis, int step, double fontUnits)
    {
        axis.MajorStep = step;
        axis.MinorStep = 1;
        axis.TickStyle = step == 1 ? TickStyle.None : TickStyle.Outside;
        axis.MajorTickSize = fontUnits * 0.35;
        axis.MinorTickSize = step == 1 ? 0 : fontUnits * 0.2;
    }

    /// <summary>The smallest of 1, 2, 5, 10, 20, 50, ... that is at least <paramref name="ratio"/>.</summary>
    internal static int NiceStep(double ratio)
    {
        for (long decade = 1; ; decade *= 10)
            foreach (long m in new[] { 1L, 2L, 5L })
                if (m * decade >= ratio || m * decade >= int.MaxValue / 10) return (int)(m * decade);
    }
}

/// <summary>A heatmap that prints each cell's value (contrasting colour) when the text fits inside the cell.</summary>
internal sealed class LabeledHeatMapSeries : HeatMapSeries
{
    public bool ShowValues { get; set; }
    public string ValueFormat { get; set; } = "0.00";
    public double[,]? RawValues { get; set; }

    public override void Render(IRenderContext rc)
    {
        base.Render(rc);
        if (!ShowValues || Data == null || ColorAxis == null) return;
        int nx = Data.GetLength(0), ny = Data.GetLength(1);
        double fontSize = ActualFontSize;
        for (int i = 0; i < nx; i++)
        {
            for (int j = 0; j < ny; j++)
            {
                double v = RawValues?[i, j] ?? Data[i, j];
                var a = Transform(new DataPoint(i - 0.5, j - 0.5));
                var b = Transform(new DataPoint(i + 0.5, j + 0.5));
                double w = Math.Abs(b.X - a.X), h = Math.Abs(b.Y - a.Y);
                string text = Figures.Fmt(v, ValueFormat);
                var size = rc.MeasureText(text, ActualFont, fontSize, FontWeights.Normal);
                if (size.Width > w * 0.9 || size.Height > h * 0.9) return; // all cells are the same size
                var color = Palettes.TextOn(ColorAxis.GetColor(Data[i, j]));
                rc.DrawText(new ScreenPoint((a.X + b.X) / 2, (a.Y + b.Y) / 2), text, color, ActualFont, fontSize,
                    FontWeights.Normal, 0, HorizontalAlignment.Center, VerticalAlignment.Middle);
            }
        }
    }
}
