using System.Globalization;
using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Series;
using Probe.Projection;

namespace Probe.Reporting.Sections;

/// <summary>A figure together with the style (size, dpi, fonts) it was laid out for.</summary>
public sealed record StyledFigure(PlotModel Model, FigureStyle Style)
{
    /// <summary>Saves the figure; the format comes from the extension (.png, .svg, .pdf).</summary>
    public void Save(string path) => FigureExporter.Save(Model, path, Style);
}

/// <summary>
/// One panel of a <see cref="EvolutionFigures.Planes"/> figure: the samples at (X[i], Y[i]), optionally a set of
/// grid lines and decision regions (Regions[i][j] = class of the cell, row 0 at the bottom, over RegionBox).
/// </summary>
public sealed record PlanePanel(string Title, double[] X, double[] Y, PlaneLine[]? Lines = null, int[][]? Regions = null, PlaneBox? RegionBox = null);

/// <summary>Figures of the layer-evolution study and of 2-D networks (grid warps, decision regions).</summary>
public static class EvolutionFigures
{
    /// <summary>Class names "0", "1", ... for <paramref name="count"/> classes.</summary>
    public static string[] DefaultClassNames(int count) =>
        Enumerable.Range(0, Math.Max(count, 1)).Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>
    /// The evolution grid: rows = checkpoints ("epoch N"), columns = layers ("name (width)"), one legend. The height
    /// follows from the width of <paramref name="basis"/> (default: page width) so panels are square.
    /// </summary>
    public static StyledFigure Grid(EvolutionResult result, string[]? classNames = null, string? title = null, FigureStyle? basis = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        int rows = result.Epochs.Length, cols = result.Layers.Length;
        var names = ClassNames(result, classNames);
        var style = Figures.ScatterGridStyle(rows, cols, basis ?? FigureStyle.Page, hasTitle: !string.IsNullOrEmpty(title));
        var panels = result.Panels.Select(r => r.Select(p => new ScatterPanel(p.X, p.Y)).ToArray()).ToArray();
        var rowTitles = result.Epochs.Select(e => "epoch " + e.ToString(CultureInfo.InvariantCulture)).ToArray();
        var colTitles = result.Layers.Select((l, c) => ColumnTitle(l, result.Panels[0][c].Features)).ToArray();
        var model = Figures.ScatterGrid(panels, result.Labels, names, rowTitles, colTitles, title, equalAspect: true, style: style);
        return new StyledFigure(model, style);
    }

    static string ColumnTitle(string layer, int features) =>
        layer + " (" + features.ToString(CultureInfo.InvariantCulture) + ")";

    static string[] ClassNames(EvolutionResult result, string[]? classNames)
    {
        if (classNames != null) return classNames;
        if (!result.HasLabels) return ["samples"];
        return DefaultClassNames(result.Labels.Length == 0 ? 1 : result.Labels.Max() + 1);
    }

    /// <summary>A single panel of a study as a scatter with axes ("PC1"/"PC2" or "t-SNE 1"/"t-SNE 2"), column width by default.</summary>
    public static StyledFigure Scatter(EvolutionResult result, int epoch, string layer, string[]? classNames = null, string? title = null, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        var p = result.Panel(epoch, layer);
        style ??= FigureStyle.Column;
        bool pca = result.Method == ProjectionMethod.Pca;
        // The input is the same at every checkpoint: it is labelled "input", never with an epoch.
        title ??= layer == Probe.Projection.EvolutionStudy.InputLayer ? "input" : string.Create(CultureInfo.InvariantCulture, $"{layer}, epoch {epoch}");
        string xt = pca ? AxisTitle("PC1", p.ExplainedVarianceRatio, 0) : "t-SNE 1";
        string yt = pca ? AxisTitle("PC2", p.ExplainedVarianceRatio, 1) : "t-SNE 2";
        var model = Figures.Scatter(p.X, p.Y, result.Labels, ClassNames(result, classNames), title, xt, yt, equalAspect: true, style: style);
        return new StyledFigure(model, style);
    }

    static string AxisTitle(string name, double[]? ratio, int k) =>
        ratio is { } r && r.Length > k ? string.Create(CultureInfo.InvariantCulture, $"{name} ({100 * r[k]:0.#}%)") : name;

    /// <summary>
    /// A row of plane panels sharing one class colouring and legend, each with optional decision regions and grid lines
    /// under the points; panels keep equal x/y scale and carry no ticks. Used for XOR (input versus hidden space) and
    /// grid warps (how a 2-unit layer folds the plane). Markers follow the evolution grid's rule: the size for one row of
    /// that many panels, shrunk so that a panel's markers cover at most the panel, never below 0.4 pt.
    /// </summary>
    public static StyledFigure Planes(IReadOnlyList<PlanePanel> panels, int[] labels, string[] classNames, string? title = null, FigureStyle? basis = null)
    {
        const string fig = "Planes";
        Check.NotEmpty(panels, fig, "panels");
        Check.NotEmpty(classNames, fig, "class names");
        Check.Labels(labels, classNames.Length, fig);
        int cols = panels.Count;
        var style = Figures.ScatterGridStyle(1, cols, basis ?? (cols <= 2 ? FigureStyle.Column with { WidthInches = 4.6 } : FigureStyle.Page), hasTitle: !string.IsNullOrEmpty(title));
        double f = style.FontUnits;
        var model = Figures.NewModel(title, style);
        model.PlotAreaBorderThickness = new OxyThickness(0);
        model.PlotMargins = new OxyThickness(f * 0.3, f * 1.9, f * 0.3, f * 0.3);
        model.PlotType = PlotType.Cartesian;
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Minimum = 0, Maximum = cols, IsAxisVisible = false, IsZoomEnabled = false, IsPanEnabled = false });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Minimum = 0, Maximum = 1, IsAxisVisible = false, IsZoomEnabled = false, IsPanEnabled = false });
        const double gap = 0.035, inner = 0.0;
        var perClass = new List<ScatterPoint>[classNames.Length];
        for (int k = 0; k < perClass.Length; k++) perClass[k] = new List<ScatterPoint>();
        var lineColor = OxyColor.FromRgb(0x9A, 0x9A, 0x9A);
        for (int c = 0; c < cols; c++)
        {
            var p = panels[c] ?? throw new ProbeException($"{fig}: panel {c} is missing (null).");
            Check.Length(p.X, labels.Length, fig, $"panel {c} x", "labels");
            Check.Length(p.Y, labels.Length, fig, $"panel {c} y", "labels");
            Check.Finite(p.X, fig, $"panel {c} x");
            Check.Finite(p.Y, fig, $"panel {c} y");
            double x0 = c + gap, x1 = c + 1 - gap, y0 = gap, y1 = 1 - gap;
            var view = ViewBox(p);
            var (mx, my) = Mapping(view, x0 + inner, x1 - inner, y0 + inner, y1 - inner);
            model.Annotations.Add(new RectangleAnnotation
            {
                MinimumX = mx(view.XMin), MaximumX = mx(view.XMax), MinimumY = my(view.YMin), MaximumY = my(view.YMax), Fill = OxyColors.Undefined,
                Stroke = OxyColor.FromRgb(0x99, 0x99, 0x99), StrokeThickness = FigureStyle.Pt(0.5), Layer = AnnotationLayer.AboveSeries,
            });
            if (p.Regions != null)
            {
                var box = p.RegionBox ?? throw new ProbeException($"{fig}: panel {c} has regions but no region box.");
                var map = Check.Matrix(p.Regions.Select(r => r.Select(v => (double)v).ToArray()).ToArray(), fig, $"panel {c} regions");
                int rr = map.GetLength(0), cc = map.GetLength(1);
                var pixels = new OxyColor[cc, rr];
                for (int i = 0; i < rr; i++)
                    for (int j = 0; j < cc; j++)
                    {
                        int k = (int)map[i, j];
                        if (k < 0 || k >= classNames.Length) throw new ProbeException($"{fig}: panel {c} region class {k} is not in 0..{classNames.Length - 1}.");
                        pixels[j, rr - 1 - i] = Palettes.Lighten(Palettes.ClassColor(k), 0.75);
                    }
                model.Annotations.Add(new ImageAnnotation
                {
                    ImageSource = OxyImage.Create(pixels, ImageFormat.Png),
                    X = new PlotLength(mx(box.XMin), PlotLengthUnit.Data),
                    Y = new PlotLength(my(box.YMax), PlotLengthUnit.Data),
                    Width = new PlotLength(mx(box.XMax) - mx(box.XMin), PlotLengthUnit.Data),
                    Height = new PlotLength(my(box.YMax) - my(box.YMin), PlotLengthUnit.Data),
                    HorizontalAlignment = HorizontalAlignment.Left,
                    VerticalAlignment = VerticalAlignment.Top,
                    Interpolate = false,
                    Layer = AnnotationLayer.BelowSeries,
                });
            }
            if (p.Lines != null)
            {
                foreach (var line in p.Lines)
                {
                    Check.NotNull(line, fig, $"panel {c} line");
                    Check.Length(line.Y, line.X.Length, fig, $"panel {c} line y", "line x");
                    Check.Finite(line.X, fig, $"panel {c} line x");
                    Check.Finite(line.Y, fig, $"panel {c} line y");
                    var ls = new LineSeries { Color = lineColor, StrokeThickness = FigureStyle.Pt(0.45), RenderInLegend = false, LineJoin = LineJoin.Round };
                    for (int i = 0; i < line.X.Length; i++) ls.Points.Add(new DataPoint(mx(line.X[i]), my(line.Y[i])));
                    model.Series.Add(ls);
                }
            }
            for (int i = 0; i < labels.Length; i++) perClass[labels[i]].Add(new ScatterPoint(mx(p.X[i]), my(p.Y[i])));
            model.Annotations.Add(Figures.PanelTitle(p.Title, new DataPoint(c + 0.5, 1), f));
        }
        // Markers as the evolution grid's (Figures.AutoMarkerPt for one row of cols panels, shrunk by Figures.FitMarkers
        // so that a panel's markers cover at most its cell, never below 0.4 pt); they were fixed by the number of panels
        // and one step at 600 points, so 10,000 points inked several panels' worth.
        Figures.AddClassSeries(model, perClass, FigureStyle.Pt(Figures.AutoMarkerPt(1, cols)), alpha: 210);
        Figures.AddClassLegendEntries(model, classNames, style);
        model.Legends.Add(Figures.ClassLegend(style));
        double cell = 1 - 2 * (gap + inner);
        Figures.FitMarkers(model, style, labels.Length, m => Math.Abs(m.Axes[0].Scale) * cell * Math.Abs(m.Axes[1].Scale) * cell);
        return new StyledFigure(model, style);
    }

    /// <summary>The region shown by a plane panel: its region box, else the bounding box of points and lines (2% margin).</summary>
    static PlaneBox ViewBox(PlanePanel p)
    {
        if (p.RegionBox is { } b) return b.Validate();
        double x0 = double.MaxValue, x1 = double.MinValue, y0 = double.MaxValue, y1 = double.MinValue;
        void Add(double[] xs, double[] ys)
        {
            foreach (var v in xs) { x0 = Math.Min(x0, v); x1 = Math.Max(x1, v); }
            foreach (var v in ys) { y0 = Math.Min(y0, v); y1 = Math.Max(y1, v); }
        }
        Add(p.X, p.Y);
        if (p.Lines != null) foreach (var l in p.Lines) Add(l.X, l.Y);
        if (x0 > x1) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
        double w = Math.Max(x1 - x0, 1e-9), h = Math.Max(y1 - y0, 1e-9);
        return new PlaneBox(x0 - 0.02 * w, x1 + 0.02 * w, y0 - 0.02 * h, y1 + 0.02 * h);
    }

    static (Func<double, double>, Func<double, double>) Mapping(PlaneBox v, double x0, double x1, double y0, double y1)
    {
        double s = Math.Min((x1 - x0) / (v.XMax - v.XMin), (y1 - y0) / (v.YMax - v.YMin));
        double cx = (v.XMin + v.XMax) / 2, cy = (v.YMin + v.YMax) / 2, bx = (x0 + x1) / 2, by = (y0 + y1) / 2;
        return (x => bx + (x - cx) * s, y => by + (y - cy) * s);
    }

    /// <summary>
    /// The grid-warp figure: the input plane with its regular grid, then the grid's image at the layer for each given
    /// warp (e.g. one per checkpoint), the data points drawn on top in every panel.
    /// </summary>
    public static StyledFigure GridWarp(Matrix inputPoints, IReadOnlyList<(string Title, PlaneWarpResult Warp, Matrix Points)> warps,
        int[] labels, string[] classNames, string? title = null, FigureStyle? basis = null)
    {
        ArgumentNullException.ThrowIfNull(inputPoints);
        ArgumentNullException.ThrowIfNull(warps);
        if (warps.Count == 0) throw new ProbeException("GridWarp: give at least one warp.");
        var first = warps[0].Warp;
        var panels = new List<PlanePanel> { new("input", Col(inputPoints, 0), Col(inputPoints, 1), first.InputLines) };
        foreach (var (t, w, pts) in warps)
        {
            if (pts.Cols != 2) throw new ProbeException($"GridWarp: the points of '{t}' must be n x 2, got {pts.Rows} x {pts.Cols}.");
            panels.Add(new PlanePanel(t, Col(pts, 0), Col(pts, 1), w.Lines));
        }
        return Planes(panels, labels, classNames, title, basis);
    }

    /// <summary>Column <paramref name="c"/> of a matrix as doubles.</summary>
    public static double[] Col(Matrix m, int c)
    {
        ArgumentNullException.ThrowIfNull(m);
        var r = new double[m.Rows];
        for (int i = 0; i < m.Rows; i++) r[i] = m[i, c];
        return r;
    }
}
