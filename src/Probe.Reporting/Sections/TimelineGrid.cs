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
        // Panel titles ("relu1: 5/128 dead") break onto two lines when wider than a panel; the top margin holds them.
        // The colour bar and its labels take about 5.5 font sizes on the right (the right margin is left to OxyPlot).
        double panelWidth = (style.WidthUnits - f * (1.6 + 5.5) - 2 * model.Padding.Left) / (layers - gap) * (1 - gap);
        var panelTitles = timeline.Layers.Select(t =>
        {
            int dead = t.Deaths.Count(d => d.DeadAtEnd);
            string layer = t.Layer, count = string.Create(CultureInfo.InvariantCulture, $"{dead}/{t.Units} dead");
            return Figures.TextWidth(layer + ": " + count, style) <= panelWidth ? layer + ": " + count : layer + "\n" + count;
        }).ToArray();
        int titleLines = panelTitles.Max(t => t.Count(c => c == '\n') + 1);
        // Titles still wider than a panel (many layers in a narrow figure) are set smaller, down to 60% of the base size.
        double widest = panelTitles.Max(t => Figures.TextWidth(t, style));
        double titleFont = widest <= panelWidth ? f : Math.Max(0.6 * f, f * panelWidth / widest);
        double lineHeight = Figures.TextHeight(style), titleLine = Figures.TextHeight(style, titleFont);
        // Below each panel: its first epoch (left), its last (right) and, where it fits between them, the word "epoch".
        string firstEpoch = timeline.Epochs[0].ToString(CultureInfo.InvariantCulture), lastEpoch = timeline.Epochs[^1].ToString(CultureInfo.InvariantCulture);
        bool epochWord = Figures.TextWidth(firstEpoch, style) + Figures.TextWidth(lastEpoch, style) + Figures.TextWidth("epoch", style) + f * 1.2 <= panelWidth;
        double top = titleLine * titleLines + f * 0.6, bottom = lineHeight + f * 0.8;
        model.PlotMargins = new OxyThickness(f * 1.6, top, double.NaN, bottom);
        // The unit axis title in full where the panels are tall enough, else shorter.
        double plotHeight = style.HeightUnits - top - bottom - model.Padding.Top - model.Padding.Bottom
            - (model.Title is null ? 0 : Figures.TextHeight(style, style.FontUnits + FigureStyle.Pt(1)) + model.TitlePadding);
        string unitTitle = new[] { "units (sorted by final firing rate)", "units (sorted by final rate)", "units" }
            .FirstOrDefault(t => Figures.TextWidth(t, style) <= plotHeight) ?? "units";
        var x = new LinearAxis { Position = AxisPosition.Bottom, Minimum = -gap / 2, Maximum = layers - gap / 2, IsAxisVisible = false, IsZoomEnabled = false, IsPanEnabled = false };
        var y = new LinearAxis
        {
            Position = AxisPosition.Left, Minimum = 0, Maximum = 1, Title = unitTitle,
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
            var panelTitle = Figures.PanelTitle(panelTitles[i], new DataPoint((x0 + x1) / 2, 1), f);
            panelTitle.FontSize = titleFont;
            model.Annotations.Add(panelTitle);
            model.Annotations.Add(EdgeLabel(firstEpoch, new DataPoint(x0, 0), HorizontalAlignment.Left, f));
            model.Annotations.Add(EdgeLabel(lastEpoch, new DataPoint(x1, 0), HorizontalAlignment.Right, f));
            if (epochWord) model.Annotations.Add(EdgeLabel("epoch", new DataPoint((x0 + x1) / 2, 0), HorizontalAlignment.Center, f));
        }
        return new StyledFigure(model, style);
    }

    /// <summary>A label under a panel, drawn outside the plot area (an ordinary text annotation would be clipped to it).</summary>
    private static FreeTextAnnotation EdgeLabel(string text, DataPoint at, HorizontalAlignment align, double f) => new()
    {
        Text = text,
        TextPosition = at,
        TextHorizontalAlignment = align,
        TextVerticalAlignment = VerticalAlignment.Top,
        Offset = new ScreenVector(0, f * 0.25),
        StrokeThickness = 0,
        Background = OxyColors.Undefined,
        Padding = new OxyThickness(0),
        ClipByXAxis = false,
        ClipByYAxis = false,
    };
}
