using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Series;

namespace Probe.Reporting;

public static partial class Figures
{
    /// <summary>
    /// A labelled heatmap (e.g. CKA layer x layer, or model A x model B) with a fixed colour range, viridis colours, a
    /// colour bar, and cell values printed where they fit. values[i][j] is drawn in row i (top to bottom), column j.
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
        return BuildHeatmap(m, rowLabels, colLabels, title, min, max, showValues, valueFormat, colorBarTitle, xTitle, yTitle,
            HeatMapRenderMethod.Rectangles, style ?? FigureStyle.Column);
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

        var palette = Palettes.Viridis(256);
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
