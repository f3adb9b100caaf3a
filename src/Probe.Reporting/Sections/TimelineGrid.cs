using System.Globalization;
using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Series;
using Probe.Analysis;

namespace Probe.Reporting.Sections;

/// <summary>Small-multiples figures of the dead-unit study: every layer's units x checkpoints firing rates in one figure.</summary>
public static class TimelineGrid
{
    /// <summary>
    /// One panel per layer (side by side, one shared viridis colour bar): each row a unit, sorted by its final firing rate
    /// (most active at the top, units dead at the end in the dark band at the bottom), each column a checkpoint.
    /// Panels share a height, so a layer's units are spread over the full panel whatever its width.
    /// </summary>
    public static StyledFigure Create(DeadUnitTimelineResult timeline, string? title = null, FigureStyle? basis = null)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        if (timeline.Layers.Length == 0) throw new ProbeException("Dead units: no layers to draw.");
        basis ??= FigureStyle.Page;
        var style = basis.WithHeight(2.4 + (string.IsNullOrEmpty(title) || !basis.ShowTitle ? 0 : 0.25));
        int layers = timeline.Layers.Length, epochs = timeline.Epochs.Length;
        double f = style.FontUnits;
        const double gap = 0.18;
        var model = Figures.NewModel(title, style);
        model.IsLegendVisible = false;
        model.PlotMargins = new OxyThickness(f * 1.6, f * 1.6, double.NaN, f * 2.6);
        var x = new LinearAxis { Position = AxisPosition.Bottom, Minimum = -gap / 2, Maximum = layers - gap / 2, IsAxisVisible = false, IsZoomEnabled = false, IsPanEnabled = false };
        var y = new LinearAxis
        {
            Position = AxisPosition.Left, Minimum = 0, Maximum = 1, Title = "units (sorted by final firing rate)",
            LabelFormatter = _ => string.Empty, TickStyle = TickStyle.None, MajorGridlineStyle = LineStyle.None,
            IsZoomEnabled = false, IsPanEnabled = false, AxislineStyle = LineStyle.None, Font = style.FontFamily,
        };
        model.Axes.Add(x);
        model.Axes.Add(y);
        model.Axes.Add(new LinearColorAxis
        {
            Position = AxisPosition.Right, Palette = Palettes.Viridis(256), Minimum = 0, Maximum = 1, MajorStep = 0.25,
            Title = "firing rate", TickStyle = TickStyle.Outside, MinorTickSize = 0, StringFormat = "0.##",
            IsZoomEnabled = false, IsPanEnabled = false, Font = style.FontFamily, AxisDistance = f * 0.6,
        });
        for (int i = 0; i < layers; i++)
        {
            var t = timeline.Layers[i];
            int units = t.Units;
            var order = Enumerable.Range(0, units).OrderBy(u => t.FiringRates[epochs - 1][u]).ThenByDescending(u => u).ToArray();
            var data = new double[epochs, units];
            for (int c = 0; c < epochs; c++)
                for (int r = 0; r < units; r++) data[c, r] = Math.Clamp(t.FiringRates[c][order[r]], 0, 1);
            double x0 = i, x1 = i + 1 - gap;
            model.Series.Add(new HeatMapSeries
            {
                X0 = x0, X1 = x1, Y0 = 0, Y1 = 1, Data = data, Interpolate = false,
                CoordinateDefinition = HeatMapCoordinateDefinition.Edge, RenderMethod = HeatMapRenderMethod.Bitmap,
            });
            int dead = t.Deaths.Count(d => d.DeadAtEnd);
            model.Annotations.Add(Figures.PanelTitle(string.Create(CultureInfo.InvariantCulture, $"{t.Layer}: {dead}/{units} dead"), new DataPoint((x0 + x1) / 2, 1), f));
            model.Annotations.Add(EdgeLabel(timeline.Epochs[0].ToString(CultureInfo.InvariantCulture), new DataPoint(x0, 0), HorizontalAlignment.Left, f));
            model.Annotations.Add(EdgeLabel(timeline.Epochs[^1].ToString(CultureInfo.InvariantCulture), new DataPoint(x1, 0), HorizontalAlignment.Right, f));
            model.Annotations.Add(EdgeLabel("epoch", new DataPoint((x0 + x1) / 2, 0), HorizontalAlignment.Center, f));
        }
        return new StyledFigure(model, style);
    }

    private static TextAnnotation EdgeLabel(string text, DataPoint at, HorizontalAlignment align, double f) => new()
    {
        Text = text,
        TextPosition = at,
        TextHorizontalAlignment = align,
        TextVerticalAlignment = VerticalAlignment.Top,
        Offset = new ScreenVector(0, f * 0.3),
        StrokeThickness = 0,
        Background = OxyColors.Undefined,
        Padding = new OxyThickness(0),
        ClipByXAxis = false,
        ClipByYAxis = false,
    };
}
