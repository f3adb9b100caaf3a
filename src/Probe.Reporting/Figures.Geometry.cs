using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Series;

namespace Probe.Reporting;

public static partial class Figures
{
    /// <summary>
    /// "How a layer folds the plane": the images of a regular grid's lines (polylines) drawn thin and grey, with optional
    /// class-coloured points on top. x and y use the same scale. The markers are <paramref name="markerSizePt"/> in
    /// radius, or by default (NaN) sized as <c>probe project</c>'s scatter: 1.6 pt, shrunk so that all the markers cover
    /// at most the plot area, never below 0.4 pt. Export the figure with the style it is built for.
    /// </summary>
    public static PlotModel GridWarp(IReadOnlyList<Polyline> lines, double[]? x = null, double[]? y = null, int[]? labels = null,
        string[]? classNames = null, string? title = null, string? xTitle = null, string? yTitle = null, FigureStyle? style = null,
        double markerSizePt = double.NaN)
    {
        const string fig = "GridWarp";
        style ??= FigureStyle.Column;
        Check.NotEmpty(lines, fig, "lines");
        var model = NewModel(title, style);
        model.PlotType = PlotType.Cartesian;
        model.Axes.Add(ValueAxis(AxisPosition.Bottom, xTitle, style));
        model.Axes.Add(ValueAxis(AxisPosition.Left, yTitle, style));
        for (int l = 0; l < lines.Count; l++)
        {
            var line = lines[l];
            Check.NotNull(line, fig, $"line {l}");
            Check.Length(line.Y, line.X?.Length ?? 0, fig, $"line {l} y", $"line {l} x");
            Check.Finite(line.X!, fig, $"line {l} x");
            Check.Finite(line.Y, fig, $"line {l} y");
            var ls = new LineSeries
            {
                Color = OxyColor.FromRgb(0x80, 0x80, 0x80),
                StrokeThickness = style.LineUnits * 0.5,
                RenderInLegend = false,
                LineJoin = LineJoin.Round,
            };
            for (int i = 0; i < line.X!.Length; i++) ls.Points.Add(new DataPoint(line.X[i], line.Y[i]));
            model.Series.Add(ls);
        }
        if (x != null || y != null)
        {
            AddLabelledPoints(model, x, y, labels, classNames, style, fig, markerSizePt);
        }
        return model;
    }

    /// <summary>
    /// A 2-D classifier's decision regions with the data on top. classMap[i][j] is the predicted class at
    /// x = xMin + (j + 0.5) (xMax - xMin) / cols, y = yMin + (i + 0.5) (yMax - yMin) / rows (row 0 at the bottom).
    /// Markers as in <see cref="GridWarp"/>: <paramref name="markerSizePt"/>, or by default 1.6 pt shrunk so that they
    /// cover at most the plot area, never below 0.4 pt.
    /// </summary>
    public static PlotModel DecisionBoundary(double[][] classMap, double xMin, double xMax, double yMin, double yMax,
        double[] x, double[] y, int[] labels, string[] classNames, string? title = null, string? xTitle = null,
        string? yTitle = null, FigureStyle? style = null, double markerSizePt = double.NaN)
    {
        const string fig = "DecisionBoundary";
        style ??= FigureStyle.Column;
        var map = Check.Matrix(classMap, fig, "classMap");
        Check.Range(xMin, xMax, fig, "x range");
        Check.Range(yMin, yMax, fig, "y range");
        Check.NotEmpty(classNames, fig, "class names");
        int rows = map.GetLength(0), cols = map.GetLength(1), n = classNames.Length;
        var data = new double[cols, rows];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double k = map[i, j];
                if (k != Math.Round(k) || k < 0 || k >= n)
                    throw new ProbeException($"{fig}: classMap[{i}][{j}] = {Check.S(k)} is not a class index in 0..{n - 1}.");
                data[j, i] = k;
            }

        var model = NewModel(title, style);
        model.PlotType = PlotType.Cartesian;
        var xa = ValueAxis(AxisPosition.Bottom, xTitle, style);
        xa.Minimum = xMin; xa.Maximum = xMax; xa.MinimumPadding = 0; xa.MaximumPadding = 0;
        var ya = ValueAxis(AxisPosition.Left, yTitle, style);
        ya.Minimum = yMin; ya.Maximum = yMax; ya.MinimumPadding = 0; ya.MaximumPadding = 0;
        model.Axes.Add(xa);
        model.Axes.Add(ya);
        // The class map is drawn as one image (crisp, compact in SVG/PDF) below the points. A colour axis is avoided on
        // purpose: OxyPlot's scatter series would pick it up and colour the points by it.
        var regionColors = Enumerable.Range(0, n).Select(k => Palettes.Lighten(Palettes.ClassColor(k), 0.72)).ToArray();
        var pixels = new OxyColor[cols, rows];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                pixels[j, rows - 1 - i] = regionColors[(int)data[j, i]];
        model.Annotations.Add(new ImageAnnotation
        {
            ImageSource = OxyImage.Create(pixels, ImageFormat.Png),
            X = new PlotLength(xMin, PlotLengthUnit.Data),
            Y = new PlotLength(yMax, PlotLengthUnit.Data),
            Width = new PlotLength(xMax - xMin, PlotLengthUnit.Data),
            Height = new PlotLength(yMax - yMin, PlotLengthUnit.Data),
            HorizontalAlignment = HorizontalAlignment.Left,
            VerticalAlignment = VerticalAlignment.Top,
            Interpolate = false,
            Layer = AnnotationLayer.BelowSeries,
        });
        AddLabelledPoints(model, x, y, labels, classNames, style, fig, markerSizePt);
        return model;
    }

    /// <summary>
    /// The points of a plane figure (<see cref="GridWarp"/>, <see cref="DecisionBoundary"/>), class-coloured and drawn
    /// as <see cref="Scatter(double[], double[], int[], string[], string?, string?, string?, bool, double, FigureStyle?)"/>
    /// draws them: classes interleaved, legend entries of their own, and markers <paramref name="markerSizePt"/> in
    /// radius or by default (NaN) the scatter's automatic size, 1.6 pt shrunk so that all the markers cover at most the
    /// plot area, never below 0.4 pt (<see cref="FitMarkers"/>). They were fixed at 2.2 pt up to 500 points and 1.4 pt
    /// above, drawn one class after the other.
    /// </summary>
    private static void AddLabelledPoints(PlotModel model, double[]? x, double[]? y, int[]? labels, string[]? classNames, FigureStyle style, string fig, double markerSizePt)
    {
        if (x == null || y == null) throw new ProbeException($"{fig}: points need both x and y.");
        Check.Length(y, x.Length, fig, "y", "x");
        Check.Finite(x, fig, "x");
        Check.Finite(y, fig, "y");
        if (!double.IsNaN(markerSizePt) && (!double.IsFinite(markerSizePt) || markerSizePt <= 0))
            throw new ProbeException($"{fig}: the marker size must be a positive number of points, got {Check.S(markerSizePt)}.");
        string[] names = classNames ?? (labels == null ? ["points"] : []);
        int[] lab = labels ?? new int[x.Length];
        if (labels != null && classNames == null)
            names = Enumerable.Range(0, labels.Length == 0 ? 1 : labels.Max() + 1).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Check.Length(lab, x.Length, fig, "labels", "x");
        Check.Labels(lab, names.Length, fig);
        var perClass = new List<ScatterPoint>[names.Length];
        for (int k = 0; k < perClass.Length; k++) perClass[k] = new List<ScatterPoint>();
        for (int i = 0; i < x.Length; i++) perClass[lab[i]].Add(new ScatterPoint(x[i], y[i]));
        bool autoMarker = double.IsNaN(markerSizePt);
        AddClassSeries(model, perClass, FigureStyle.Pt(autoMarker ? AutoMarkerPt(1, 1) : markerSizePt), alpha: 210);
        if (labels != null || classNames != null)
        {
            AddClassLegendEntries(model, names, style);
            model.Legends.Add(ClassLegend(style));
        }
        if (autoMarker) FitMarkers(model, style, x.Length, m => m.PlotArea.Width * m.PlotArea.Height);
    }
}
