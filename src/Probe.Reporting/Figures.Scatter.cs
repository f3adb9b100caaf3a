using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace Probe.Reporting;

public static partial class Figures
{
    /// <summary>
    /// A rows x cols grid of scatter panels (e.g. rows = checkpoints, columns = layers) sharing one class colouring and
    /// one legend. Each panel is scaled to its own data (equal x/y scale when <paramref name="equalAspect"/>); panels
    /// have no ticks. Row titles are drawn on the left, column titles on top.
    /// </summary>
    public static PlotModel ScatterGrid(ScatterPanel[][] panels, int[] labels, string[] classNames, string[] rowTitles,
        string[] colTitles, string? title = null, bool equalAspect = true, double markerSizePt = double.NaN,
        FigureStyle? style = null)
    {
        const string fig = "ScatterGrid";
        style ??= FigureStyle.Page;
        Check.NotNull(panels, fig, "panels");
        if (panels.Length == 0) throw new ProbeException($"{fig}: panels has no rows.");
        int rows = panels.Length;
        int cols = panels[0]?.Length ?? 0;
        if (cols == 0) throw new ProbeException($"{fig}: panels row 0 has no panels.");
        Check.NotEmpty(classNames, fig, "class names");
        Check.Labels(labels, classNames.Length, fig);
        Check.Length(rowTitles, rows, fig, "row titles", "panels (rows)");
        Check.Length(colTitles, cols, fig, "column titles", "panels[0] (columns)");
        for (int r = 0; r < rows; r++)
        {
            if (panels[r] is null || panels[r].Length != cols)
                throw new ProbeException($"{fig}: panels is ragged: row {r} has {panels[r]?.Length ?? 0} panels, row 0 has {cols}.");
            for (int c = 0; c < cols; c++)
            {
                var p = panels[r][c] ?? throw new ProbeException($"{fig}: panel [{r}][{c}] is missing (null).");
                Check.Length(p.X, labels.Length, fig, $"panel [{r}][{c}] x", "labels");
                Check.Length(p.Y, labels.Length, fig, $"panel [{r}][{c}] y", "labels");
                Check.Finite(p.X, fig, $"panel [{r}][{c}] x");
                Check.Finite(p.Y, fig, $"panel [{r}][{c}] y");
            }
        }

        double f = style.FontUnits;
        var model = NewModel(title, style);
        model.PlotAreaBorderThickness = new OxyThickness(0);
        // Room for rotated row titles (left) and column titles (top); the legend sits outside on the right.
        model.PlotMargins = new OxyThickness(f * 1.8, f * 1.9, f * 0.3, f * 0.3);
        if (equalAspect) model.PlotType = PlotType.Cartesian;

        var x = new LinearAxis { Position = AxisPosition.Bottom, Minimum = 0, Maximum = cols, IsAxisVisible = false, IsZoomEnabled = false, IsPanEnabled = false };
        var y = new LinearAxis { Position = AxisPosition.Left, Minimum = 0, Maximum = rows, IsAxisVisible = false, IsZoomEnabled = false, IsPanEnabled = false };
        model.Axes.Add(x);
        model.Axes.Add(y);

        const double gap = 0.035;    // half the space between panels, in panel units
        const double inner = 0.04;   // space between a panel's frame and its outermost points
        var perClass = new List<ScatterPoint>[classNames.Length];
        for (int k = 0; k < perClass.Length; k++) perClass[k] = new List<ScatterPoint>();

        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                double x0 = c + gap, x1 = c + 1 - gap;
                double y0 = rows - 1 - r + gap, y1 = rows - r - gap;
                model.Annotations.Add(new RectangleAnnotation
                {
                    MinimumX = x0, MaximumX = x1, MinimumY = y0, MaximumY = y1,
                    Fill = OxyColors.Undefined,
                    Stroke = OxyColor.FromRgb(0x99, 0x99, 0x99),
                    StrokeThickness = FigureStyle.Pt(0.5),
                    Layer = AnnotationLayer.BelowSeries,
                });
                var (mapX, mapY) = PanelMapping(panels[r][c], x0 + inner, x1 - inner, y0 + inner, y1 - inner, equalAspect);
                var p = panels[r][c];
                for (int i = 0; i < labels.Length; i++)
                    perClass[labels[i]].Add(new ScatterPoint(mapX(p.X[i]), mapY(p.Y[i])));
            }
        }

        var rowTitleTexts = new List<TextAnnotation>();
        var colTitleTexts = new List<TextAnnotation>();
        for (int r = 0; r < rows; r++)
        {
            var rowTitle = new FreeTextAnnotation
            {
                Text = rowTitles[r],
                TextPosition = new DataPoint(0, rows - r - 0.5),
                TextRotation = -90,
                TextHorizontalAlignment = HorizontalAlignment.Center,
                TextVerticalAlignment = VerticalAlignment.Bottom,
                Offset = new ScreenVector(-f * 0.3, 0),
                StrokeThickness = 0,
                Background = OxyColors.Undefined,
                Padding = new OxyThickness(0),
                ClipByXAxis = false,
                ClipByYAxis = false,
            };
            rowTitleTexts.Add(rowTitle);
            model.Annotations.Add(rowTitle);
        }
        for (int c = 0; c < cols; c++)
        {
            var colTitle = PanelTitle(colTitles[c], new DataPoint(c + 0.5, rows), f);
            colTitleTexts.Add(colTitle);
            model.Annotations.Add(colTitle);
        }

        bool autoMarker = double.IsNaN(markerSizePt);
        AddClassSeries(model, perClass, FigureStyle.Pt(autoMarker ? AutoMarkerPt(rows, cols) : markerSizePt), alpha: 210);
        AddClassLegendEntries(model, classNames, style);
        model.Legends.Add(ClassLegend(style));
        FitGridTitles(model, style, colTitleTexts, rowTitleTexts);
        // A panel is the inner part of its grid cell, one axis unit each way.
        double panel = 1 - 2 * (gap + inner);
        if (autoMarker) FitMarkers(model, style, labels.Length, m => Math.Abs(m.Axes[0].Scale) * panel * Math.Abs(m.Axes[1].Scale) * panel);
        return model;
    }

    /// <summary>Smallest marker radius an automatic size goes down to, in points (finer dots do not print).</summary>
    internal const double MinMarkerPt = 0.4;

    /// <summary>
    /// The marker radius (points) an automatic scatter of rows x cols panels starts from, before <see cref="FitMarkers"/>
    /// shrinks it to the points' number: 1.6 pt for one panel (<see cref="Scatter(double[], double[], int[], string[], string?, string?, string?, bool, double, FigureStyle?)"/>,
    /// <c>probe project</c>), smaller for more panels a side, at least 0.7 pt.
    /// </summary>
    internal static double AutoMarkerPt(int rows, int cols) => Math.Clamp(2.2 / Math.Sqrt(Math.Max(rows, cols)), 0.7, 1.6);

    /// <summary>
    /// Shrinks a scatter's markers so that the <paramref name="points"/> markers of a panel cover at most the panel's
    /// area (<paramref name="panelArea"/> of the model laid out at <paramref name="style"/>, in OxyPlot units), never
    /// below <see cref="MinMarkerPt"/>; the scatter grid, the single scatter, the plane figures (<see cref="GridWarp"/>,
    /// <see cref="DecisionBoundary"/>, <see cref="Sections.EvolutionFigures.Planes"/>) share it. The grid's shape alone set the
    /// size before: 10,000 points a panel (or all of digits at one column's width) drew about three panels' worth of
    /// ink, solid blobs whose density could not be read; <c>probe project</c>'s fixed 1.2 pt drew 20,000 points with
    /// 1.7 figures' worth.
    /// </summary>
    internal static void FitMarkers(PlotModel model, FigureStyle style, int points, Func<PlotModel, double> panelArea)
    {
        if (points == 0) return;
        FigureExporter.LayOut(model, style);
        double fit = Math.Max(FigureStyle.Pt(MinMarkerPt), Math.Sqrt(panelArea(model) / (Math.PI * points)));
        foreach (var s in model.Series.OfType<ScatterSeries>())
            if (!s.RenderInLegend && s.MarkerSize > fit) s.MarkerSize = fit;
    }

    /// <summary>
    /// Makes a grid's titles (one panel per unit of both axes) fit their panels, so that neighbours never overlap (layer
    /// names wider than their columns did at one column's width). When a column title is wider than its panel, every
    /// column title is broken before its last " (" (the layer's width goes to a second line, the top margin grows by a
    /// line); column titles still too wide are all set in the one smaller size that fits, and so are the row titles when
    /// one is taller than its panel.
    /// </summary>
    internal static void FitGridTitles(PlotModel model, FigureStyle style, IReadOnlyList<TextAnnotation> colTitles, IReadOnlyList<TextAnnotation> rowTitles)
    {
        double f = style.FontUnits;
        // A panel's width and height, less a little space between neighbouring titles.
        (double Width, double Height) Room()
        {
            FigureExporter.LayOut(model, style);
            return (Math.Abs(model.Axes[0].Scale) * 0.94, Math.Abs(model.Axes[1].Scale) * 0.94);
        }
        var room = Room();
        static int Break(TextAnnotation t) => t.Text is { } s && !s.Contains('\n') ? s.LastIndexOf(" (", StringComparison.Ordinal) : -1;
        if (colTitles.Any(t => Break(t) > 0 && TextWidth(t.Text!, style) > room.Width))
        {
            // Every title that has a width in brackets is broken alike, so the columns read the same.
            foreach (var t in colTitles)
                if (Break(t) is int k and > 0) t.Text = t.Text![..k] + "\n" + t.Text[(k + 1)..];
            var m = model.PlotMargins;
            model.PlotMargins = new OxyThickness(m.Left, m.Top + TextHeight(style), m.Right, m.Bottom);
            room = Room();
        }
        double widest = colTitles.Count == 0 ? 0 : colTitles.Max(t => TextWidth(t.Text ?? "", style));
        if (widest > room.Width) foreach (var t in colTitles) t.FontSize = f * room.Width / widest;
        double tallest = rowTitles.Count == 0 ? 0 : rowTitles.Max(t => TextWidth(t.Text ?? "", style));
        if (tallest > room.Height) foreach (var t in rowTitles) t.FontSize = f * room.Height / tallest;
    }

    /// <summary>A title centred above a grid panel at <paramref name="at"/> (panel-grid coordinates), never clipped.</summary>
    internal static FreeTextAnnotation PanelTitle(string text, DataPoint at, double fontSize) => new()
    {
        Text = text,
        TextPosition = at,
        TextHorizontalAlignment = HorizontalAlignment.Center,
        TextVerticalAlignment = VerticalAlignment.Bottom,
        Offset = new ScreenVector(0, -fontSize * 0.3),
        StrokeThickness = 0,
        Background = OxyColors.Undefined,
        Padding = new OxyThickness(0),
        ClipByXAxis = false,
        ClipByYAxis = false,
    };

    /// <summary>
    /// A copy of <paramref name="basis"/> (default: page width) whose height makes a rows x cols scatter grid's panels
    /// roughly square, leaving room for the title, column titles and a class legend on the right.
    /// </summary>
    public static FigureStyle ScatterGridStyle(int rows, int cols, FigureStyle? basis = null, bool hasTitle = true)
    {
        if (rows < 1 || cols < 1) throw new ProbeException($"ScatterGrid: need at least one row and column, got {rows} x {cols}.");
        basis ??= FigureStyle.Page;
        double fontIn = basis.FontSizePt / 72.0;
        double legendIn = fontIn * 5.5;
        double available = basis.WidthInches - fontIn * (1.8 + 0.6 * 2 + 0.3) - legendIn;
        double cell = Math.Max(0.2, available / cols);
        double height = cell * rows + fontIn * (1.9 + 0.3 + 0.6 * 2) + (hasTitle && basis.ShowTitle ? fontIn * 2.2 : 0);
        return basis.WithHeight(Math.Round(height, 2));
    }

    /// <summary>
    /// One scatter plot of a 2-D embedding (the first two columns of <paramref name="xy"/>, as PCA and t-SNE return it),
    /// coloured by class; <paramref name="classNames"/> default to the label numbers. Markers as in the other overload.
    /// </summary>
    public static PlotModel Scatter(Matrix xy, int[] labels, string[]? classNames = null, string? title = null,
        string? xTitle = null, string? yTitle = null, bool equalAspect = true, double markerSizePt = double.NaN, FigureStyle? style = null)
    {
        Check.NotNull(xy, "Scatter", "embedding");
        if (xy.Cols < 2) throw new ProbeException($"Scatter: the embedding has {xy.Cols} column(s); a scatter plot needs 2.");
        classNames ??= Sections.EvolutionFigures.DefaultClassNames(labels is { Length: > 0 } ? labels.Max() + 1 : 1);
        return Scatter(Sections.EvolutionFigures.Col(xy, 0), Sections.EvolutionFigures.Col(xy, 1), labels, classNames, title, xTitle, yTitle, equalAspect, markerSizePt, style);
    }

    /// <summary>
    /// One scatter plot coloured by class, with a legend; axes carry ticks and optional titles. The markers are
    /// <paramref name="markerSizePt"/> in radius, or by default (NaN) sized as a scatter grid's panel: 1.6 pt, shrunk
    /// so that all the points' markers cover at most the plot area (never below 0.4 pt; see <see cref="FitMarkers"/>).
    /// </summary>
    public static PlotModel Scatter(double[] x, double[] y, int[] labels, string[] classNames, string? title = null,
        string? xTitle = null, string? yTitle = null, bool equalAspect = false, double markerSizePt = double.NaN, FigureStyle? style = null)
    {
        const string fig = "Scatter";
        style ??= FigureStyle.Column;
        Check.NotEmpty(classNames, fig, "class names");
        Check.Labels(labels, classNames.Length, fig);
        Check.Length(x, labels.Length, fig, "x", "labels");
        Check.Length(y, labels.Length, fig, "y", "labels");
        Check.Finite(x, fig, "x");
        Check.Finite(y, fig, "y");

        var model = NewModel(title, style);
        if (equalAspect) model.PlotType = PlotType.Cartesian;
        model.Axes.Add(ValueAxis(AxisPosition.Bottom, xTitle, style));
        model.Axes.Add(ValueAxis(AxisPosition.Left, yTitle, style));
        var perClass = new List<ScatterPoint>[classNames.Length];
        for (int k = 0; k < perClass.Length; k++) perClass[k] = new List<ScatterPoint>();
        for (int i = 0; i < labels.Length; i++) perClass[labels[i]].Add(new ScatterPoint(x[i], y[i]));
        bool autoMarker = double.IsNaN(markerSizePt);
        AddClassSeries(model, perClass, FigureStyle.Pt(autoMarker ? AutoMarkerPt(1, 1) : markerSizePt), alpha: 210);
        AddClassLegendEntries(model, classNames, style);
        model.Legends.Add(ClassLegend(style));
        if (autoMarker) FitMarkers(model, style, labels.Length, m => m.PlotArea.Width * m.PlotArea.Height);
        return model;
    }

    /// <summary>Layers of points a class-coloured scatter is drawn in (see <see cref="AddClassSeries"/>).</summary>
    internal const int ClassLayers = 16;

    /// <summary>
    /// Adds the points as unlabelled scatter series (legend entries are added separately), the classes interleaved: each
    /// class's points are dealt into <see cref="ClassLayers"/> layers (every 16th point), and layer j of every class is
    /// drawn before layer j + 1 of any. Drawn one class after the other, the last classes covered the earlier ones
    /// wherever they overlapped; now no class lies systematically on top. The order is fixed, so figures stay byte-identical.
    /// </summary>
    internal static void AddClassSeries(PlotModel model, List<ScatterPoint>[] perClass, double markerSize, byte alpha)
    {
        for (int j = 0; j < ClassLayers; j++)
        {
            for (int k = 0; k < perClass.Length; k++)
            {
                var points = perClass[k];
                if (points.Count <= j) continue;
                var s = new ScatterSeries
                {
                    MarkerType = Palettes.ClassMarker(k),
                    MarkerFill = OxyColor.FromAColor(alpha, Palettes.ClassColor(k)),
                    MarkerStroke = OxyColors.Undefined,
                    MarkerStrokeThickness = 0,
                    MarkerSize = markerSize,
                    RenderInLegend = false,
                };
                for (int i = j; i < points.Count; i += ClassLayers) s.Points.Add(points[i]);
                model.Series.Add(s);
            }
        }
    }

    /// <summary>Maps a panel's data into the box [x0,x1] x [y0,y1]; with equal aspect one scale serves both axes.</summary>
    private static (Func<double, double> mapX, Func<double, double> mapY) PanelMapping(ScatterPanel p, double x0, double x1, double y0, double y1, bool equalAspect)
    {
        double minX = p.X.Length == 0 ? 0 : p.X.Min(), maxX = p.X.Length == 0 ? 1 : p.X.Max();
        double minY = p.Y.Length == 0 ? 0 : p.Y.Min(), maxY = p.Y.Length == 0 ? 1 : p.Y.Max();
        double rx = maxX - minX, ry = maxY - minY;
        if (rx <= 0) rx = 1;
        if (ry <= 0) ry = 1;
        double cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
        double bx = (x0 + x1) / 2, by = (y0 + y1) / 2;
        double sx = (x1 - x0) / rx, sy = (y1 - y0) / ry;
        if (equalAspect) sx = sy = Math.Min(sx, sy);
        return (v => bx + (v - cx) * sx, v => by + (v - cy) * sy);
    }
}

/// <summary>A text annotation that may be drawn anywhere in the figure (OxyPlot clips annotations to the plot area otherwise).</summary>
internal sealed class FreeTextAnnotation : TextAnnotation
{
    public override OxyRect GetClippingRect() => PlotModel.PlotBounds;
}
