using OxyPlot;
using OxyPlot.Series;
using Probe.Reporting;
using Xunit;
using static Probe.Tests.Reporting.ReportingTestData;

namespace Probe.Tests.Reporting;

public class FigureTests
{
    private static readonly FigureStyle Small = FigureStyle.Column with { Dpi = 100 };

    [Fact]
    public void ScatterGrid_3x4_renders_with_visible_row_and_column_titles()
    {
        var (panels, labels) = Grid(3, 4, 150);
        string[] rows = ["epoch 0", "epoch 5", "epoch 20"];
        string[] cols = ["fc1", "fc2", "fc3", "fc4"];
        var style = Figures.ScatterGridStyle(3, 4, FigureStyle.Page with { Dpi = 150 }, hasTitle: false);
        var model = Figures.ScatterGrid(panels, labels, Digits, rows, cols, style: style);
        var blank = Figures.ScatterGrid(panels, labels, Digits, ["", "", ""], ["", "", "", ""], style: style);

        // The data series (the classes interleaved in layers) hold all panels' points, plus one legend-only series per class.
        var data = model.Series.OfType<ScatterSeries>().Where(s => !s.RenderInLegend).ToList();
        Assert.Equal(10, data.Select(s => s.MarkerFill).Distinct().Count());
        Assert.Equal(3 * 4 * labels.Length, data.Sum(s => s.Points.Count));
        Assert.Equal(10, model.Series.Count(s => s.RenderInLegend && s.Title != null));
        // Every point lies in its panel's cell of the [0, cols] x [0, rows] layout.
        Assert.All(data.SelectMany(s => s.Points), p => Assert.InRange(p.X, 0, 4));
        Assert.All(data.SelectMany(s => s.Points), p => Assert.InRange(p.Y, 0, 3));

        using var a = Decode(FigureExporter.Export(model, FigureFormat.Png, style));
        using var b = Decode(FigureExporter.Export(blank, FigureFormat.Png, style));
        Assert.Equal(style.PixelWidth, a.Width);
        Assert.True(Variance(a) > 100);
        // Column titles sit in a band above the panels, row titles in a band left of them.
        int topWith = DarkPixels(a, 0.05, 0.0, 0.85, 0.08), topWithout = DarkPixels(b, 0.05, 0.0, 0.85, 0.08);
        int leftWith = DarkPixels(a, 0.0, 0.08, 0.06, 1.0), leftWithout = DarkPixels(b, 0.0, 0.08, 0.06, 1.0);
        Assert.True(topWith - topWithout > 100, $"column titles: {topWith} vs {topWithout} dark pixels");
        Assert.True(leftWith - leftWithout > 100, $"row titles: {leftWith} vs {leftWithout} dark pixels");
    }

    [Theory]
    [InlineData(3.5, "relu1 (128)", "relu2 (64)", "relu3 (32)", "fc4 (10)")]
    [InlineData(3.5, "layer1.0.relu#1 (16)", "layer2.0.relu#1 (32)", "layer3.0.relu#1 (64)", "layer4.0.relu#1 (128)")]
    [InlineData(7.0, "layer1.0.relu#1 (16)", "layer2.0.relu#1 (32)", "layer3.0.relu#1 (64)", "layer4.0.relu#1 (128)")]
    public void ScatterGrid_row_and_column_titles_never_overlap_each_other_or_leave_the_figure(double widthIn, string c0, string c1, string c2, string c3)
    {
        // The evolution grid of the digits MLP at one column's width (probe evolution --width-in 3.5), and of a ResNet's
        // block outputs at page width: 6 checkpoints x 4 layers, the page preset's 9 pt font.
        var (panels, labels) = Grid(6, 4, 60);
        string[] rows = ["epoch 0", "epoch 1", "epoch 2", "epoch 5", "epoch 10", "epoch 20"];
        var basis = new FigureSettings(WidthInches: widthIn).Apply(FigureStyle.Page);
        var style = Figures.ScatterGridStyle(6, 4, basis, hasTitle: false);
        var model = Figures.ScatterGrid(panels, labels, Digits, rows, [c0, c1, c2, c3], style: style);
        var (w, h, texts) = SvgText.Read(FigureExporter.Export(model, FigureFormat.Svg, style));

        Assert.Empty(SvgText.Outside(w, h, texts));
        var clashes = new List<string>();
        for (int i = 0; i < texts.Count; i++)
            for (int j = i + 1; j < texts.Count; j++)
            {
                var (a, b) = (texts[i], texts[j]);
                const double tol = 0.5; // the line boxes of a legend's consecutive entries touch
                if (a.Left < b.Right - tol && b.Left < a.Right - tol && a.Top < b.Bottom - tol && b.Top < a.Bottom - tol) clashes.Add($"{a} / {b}");
            }
        Assert.True(clashes.Count == 0, "overlapping text: " + string.Join("; ", clashes));
        // Every title is still there, whole (possibly on two lines).
        string all = string.Join(" ", texts.Select(t => t.Text));
        foreach (var t in rows.Concat([c0, c1, c2, c3]))
            foreach (var word in t.Split(' ')) Assert.Contains(word, all);
    }

    [Fact]
    public void Scatter_figures_draw_the_classes_interleaved_so_no_class_hides_under_the_later_ones()
    {
        // Drawn one class after the other, the last class covers every earlier one where they overlap (in a 10,000-point
        // PCA of ten classes, class 4 all but vanished under 5 to 9). The points drawn last, the top of the pile, must
        // come from every class.
        var (panels, labels) = Grid(2, 2, 300);
        var style = Figures.ScatterGridStyle(2, 2, FigureStyle.Page, hasTitle: false);
        var grid = Figures.ScatterGrid(panels, labels, Digits, ["epoch 0", "epoch 5"], ["a", "b"], style: style);
        var scatter = Figures.Scatter(panels[0][0].X, panels[0][0].Y, labels, Digits);
        var planes = Probe.Reporting.Sections.EvolutionFigures.Planes(
            [new("a", panels[0][0].X, panels[0][0].Y), new("b", panels[0][1].X, panels[0][1].Y)], labels, Digits);
        foreach (var (name, model) in new[] { ("grid", grid), ("scatter", scatter), ("planes", planes.Model) })
        {
            var drawn = model.Series.OfType<ScatterSeries>().Where(s => !s.RenderInLegend && s.Points.Count > 0)
                .SelectMany(s => s.Points.Select(_ => ClassOf(s.MarkerFill))).ToList();
            var top = drawn.Skip(drawn.Count - drawn.Count / 10).Distinct().Order().ToList();
            Assert.True(top.Count == 10, $"{name}: the last tenth of the points drawn holds classes {string.Join(",", top)} only");
            // Every point is drawn once, in its class's colour.
            Assert.Equal(model == grid ? 4 * labels.Length : model == planes.Model ? 2 * labels.Length : labels.Length, drawn.Count);
        }
    }

    private static int ClassOf(OxyColor c) =>
        Enumerable.Range(0, 10).Single(k => Palettes.ClassColor(k).R == c.R && Palettes.ClassColor(k).G == c.G && Palettes.ClassColor(k).B == c.B);

    [Theory]
    [InlineData(3, 3, 10_000, 7.0)]   // probe evolution --max-samples 10000: three checkpoints of three layers
    [InlineData(6, 4, 1_797, 3.5)]    // all of digits at one column's width
    public void ScatterGrid_markers_cover_at_most_their_panel_however_many_points(int rows, int cols, int n, double widthIn)
    {
        // The default marker was sized from the grid's shape alone: 10,000 points a panel drew about three panels' worth of
        // ink, solid blobs whose density and overlaps could not be seen. Now the markers' total area stays within the
        // panel's (and no marker is smaller than 0.4 pt, which would not print).
        var (panels, labels) = Grid(rows, cols, n);
        var style = Figures.ScatterGridStyle(rows, cols, new FigureSettings(WidthInches: widthIn).Apply(FigureStyle.Page), hasTitle: false);
        var model = Figures.ScatterGrid(panels, labels, Digits, Enumerable.Range(0, rows).Select(r => $"epoch {r}").ToArray(),
            Enumerable.Range(0, cols).Select(c => $"layer{c}").ToArray(), style: style);
        FigureExporter.LayOut(model, style);   // as exported: axis scales in OxyPlot units
        var frame = model.Annotations.OfType<OxyPlot.Annotations.RectangleAnnotation>().First();
        double panelArea = (frame.MaximumX - frame.MinimumX) * Math.Abs(model.Axes[0].Scale) * (frame.MaximumY - frame.MinimumY) * Math.Abs(model.Axes[1].Scale);
        var data = model.Series.OfType<ScatterSeries>().Where(s => !s.RenderInLegend).ToList();
        double ink = data.Sum(s => s.Points.Count * Math.PI * s.MarkerSize * s.MarkerSize) / (rows * cols);
        Assert.True(ink <= panelArea * 1.0001, $"{n} markers cover {ink / panelArea:0.00} panels' area");
        Assert.All(data, s => Assert.True(s.MarkerSize >= FigureStyle.Pt(0.4) - 1e-9, $"marker {s.MarkerSize}"));
    }

    [Theory]
    [InlineData(200)]      // few points: the grid's one-panel size, 1.6 pt
    [InlineData(20_000)]   // shrunk to cover the plot area
    [InlineData(100_000)]  // at the 0.4 pt floor
    public void Scatter_markers_follow_the_grid_rule_however_many_points(int n)
    {
        // probe project drew its scatter with fixed markers (1.8 pt up to 1,000 points, 1.2 pt above; Figures.Scatter 1.6 pt):
        // 20,000 points at 1.2 pt cover 1.7 times a 3.5 x 3 in figure. A single scatter now sizes its markers as a scatter
        // grid's panel does: the one-panel size, shrunk so that the markers cover at most the plot (never below 0.4 pt).
        var p = Ring(n, 3, 7, out var labels);
        var style = FigureStyle.Column with { HeightInches = 3.0 };
        // Wider than tall, as probe project draws a PCA (equal scales: the first layout zooms the y axis out).
        p = new ScatterPanel(p.X.Select(v => 2.5 * v).ToArray(), p.Y);
        var single = Figures.Scatter(p.X, p.Y, labels, Digits, "PCA of fc2", "PC1 (40%)", "PC2 (12%)", equalAspect: true, style: style);
        var gridStyle = Figures.ScatterGridStyle(1, 1, style, hasTitle: false);
        var grid = Figures.ScatterGrid([[p]], labels, Digits, ["epoch 0"], ["fc2"], style: gridStyle);
        foreach (var (model, at, area) in new[] { (single, style, (Func<PlotModel, double>)(m => m.PlotArea.Width * m.PlotArea.Height)), (grid, gridStyle, GridPanelArea) })
        {
            FigureExporter.LayOut(model, at);
            var sizes = model.Series.OfType<ScatterSeries>().Where(s => !s.RenderInLegend).Select(s => s.MarkerSize).Distinct().ToList();
            double expected = Math.Clamp(Math.Sqrt(area(model) / (Math.PI * n)), FigureStyle.Pt(0.4), FigureStyle.Pt(1.6));
            Assert.Equal(expected, sizes.Single(), 9);
        }
    }

    [Theory]
    [InlineData("decision")]   // Figures.DecisionBoundary: XOR's regions under the points
    [InlineData("gridwarp")]   // Figures.GridWarp: a folded grid under the points
    [InlineData("planes")]     // EvolutionFigures.GridWarp / Planes: input plane and hidden plane side by side
    public void Plane_figures_markers_shrink_as_points_grow_to_cover_at_most_their_plot_never_below_the_floor(string figure)
    {
        // The decision-boundary and grid-warp figures had fixed markers (2.2 pt up to 500 points, 1.4 pt above; the planes
        // 1.2-1.7 pt by panel count, x0.7 above 600 points): 20,000 points inked several plots' worth, one solid blob. They
        // now follow probe project's and the evolution grid's rule: as points are added the markers shrink, their total area
        // stays within the plot (a panel, for the planes), and they stop at 0.4 pt, the finest dot that prints.
        double floor = FigureStyle.Pt(0.4);
        var sizes = new List<double>();
        foreach (int n in new[] { 4, 300, 3_000, 30_000, 300_000 })
        {
            var p = Ring(n, 3, 11, out var labels);
            var lines = Enumerable.Range(0, 9).Select(k => new Polyline([-6, 0, 6], [k - 4.0, 0.5 * (k - 4.0), k - 4.0])).ToList();
            PlotModel model;
            FigureStyle style;
            int panels = 1;
            switch (figure)
            {
                case "decision":
                    var map = Enumerable.Range(0, 30).Select(i => Enumerable.Range(0, 30).Select(j => (double)((i / 3 + j / 3) % 10)).ToArray()).ToArray();
                    style = FigureStyle.Column;
                    model = Figures.DecisionBoundary(map, -7, 7, -7, 7, p.X, p.Y, labels, Digits, "regions", "x1", "x2", style);
                    break;
                case "gridwarp":
                    style = FigureStyle.Column;
                    model = Figures.GridWarp(lines, p.X, p.Y, labels, Digits, "folding", "h1", "h2", style);
                    break;
                default:
                    var planeLines = lines.Select(l => new Probe.Projection.PlaneLine(l.X, l.Y)).ToArray();
                    var fig = Probe.Reporting.Sections.EvolutionFigures.Planes(
                        [new("input", p.X, p.Y, planeLines), new("relu1", p.Y, p.X, planeLines)], labels, Digits);
                    (model, style, panels) = (fig.Model, fig.Style, 2);
                    break;
            }
            FigureExporter.LayOut(model, style);
            var data = model.Series.OfType<ScatterSeries>().Where(s => s.Points.Count > 0).ToList();
            Assert.Equal(n * panels, data.Sum(s => s.Points.Count));
            double size = data.Select(s => s.MarkerSize).Distinct().Single();
            // A panel of the planes is at most its share of the plot area.
            double room = model.PlotArea.Width * model.PlotArea.Height / panels;
            double ink = n * Math.PI * size * size;
            Assert.True(size >= floor - 1e-9, $"{figure}, {n} points: marker {size / FigureStyle.Pt(1):0.00} pt is below the 0.4 pt floor");
            if (size > floor + 1e-9) Assert.True(ink <= room * 1.0001, $"{figure}, {n} points: markers cover {ink / room:0.00} of the plot");
            // Legend symbols keep their size, whatever the markers do.
            Assert.All(model.Series.OfType<ScatterSeries>().Where(s => s.Points.Count == 0), s => Assert.Equal(style.FontUnits * 0.3, s.MarkerSize, 9));
            sizes.Add(size);
        }
        for (int i = 1; i < sizes.Count; i++) Assert.True(sizes[i] <= sizes[i - 1], $"{figure}: markers grew from {sizes[i - 1]} to {sizes[i]}");
        Assert.True(sizes[2] < sizes[1] && sizes[3] < sizes[2], $"{figure}: markers did not shrink as points grew ({string.Join(", ", sizes)})");
        Assert.Equal(floor, sizes[^1], 9);
        if (figure != "planes")
        {
            // A single plot starts where probe project's scatter does: a few points get the same markers as Figures.Scatter's.
            var q = Ring(4, 3, 11, out var l4);
            var scatter = Figures.Scatter(q.X, q.Y, l4, Digits, style: FigureStyle.Column);
            Assert.Equal(scatter.Series.OfType<ScatterSeries>().First(s => s.Points.Count > 0).MarkerSize, sizes[0], 9);
        }
    }

    /// <summary>The area of a scatter grid's first panel (its frame) in OxyPlot units, as laid out.</summary>
    private static double GridPanelArea(PlotModel model)
    {
        var frame = model.Annotations.OfType<OxyPlot.Annotations.RectangleAnnotation>().First();
        const double inner = 0.04; // Figures.ScatterGrid's space between a panel's frame and its points
        return (frame.MaximumX - frame.MinimumX - 2 * inner) * Math.Abs(model.Axes[0].Scale) * (frame.MaximumY - frame.MinimumY - 2 * inner) * Math.Abs(model.Axes[1].Scale);
    }

    [Fact]
    public void Svg_keeps_the_cells_of_a_bitmap_crisp_as_the_png_does()
    {
        // The dead-unit timelines (and decision regions) are small bitmaps, one pixel a cell, drawn without interpolation:
        // 21 checkpoints x 128 units stretched 7.5 times across. The PNG shows sharp cells; the SVG gave viewers no
        // rendering hint, so browsers and Inkscape smoothed them into a blur.
        double[][] map = [[0, 1, 0], [1, 0, 1]];
        var model = Figures.DecisionBoundary(map, -1, 1, -1, 1, [-0.5, 0.5], [-0.5, 0.5], [0, 1], ["a", "b"]);
        var svg = System.Xml.Linq.XDocument.Parse(System.Text.Encoding.UTF8.GetString(FigureExporter.Export(model, FigureFormat.Svg, Small)));
        var images = svg.Descendants().Where(e => e.Name.LocalName == "image").ToList();
        Assert.NotEmpty(images);
        Assert.All(images, i =>
        {
            Assert.Equal("optimizeSpeed", i.Attribute("image-rendering")?.Value);   // SVG 1.1 (Inkscape, librsvg)
            Assert.Equal("image-rendering:pixelated", i.Attribute("style")?.Value);  // CSS (browsers)
        });
    }

    [Fact]
    public void ScatterGrid_rejects_ragged_panels_and_bad_labels()
    {
        var (panels, labels) = Grid(2, 2, 20);
        var ragged = new[] { panels[0], new[] { panels[1][0] } };
        var ex = Assert.Throws<ProbeException>(() => Figures.ScatterGrid(ragged, labels, Digits, ["a", "b"], ["c", "d"]));
        Assert.Contains("ragged", ex.Message);
        var bad = (int[])labels.Clone();
        bad[3] = 10;
        ex = Assert.Throws<ProbeException>(() => Figures.ScatterGrid(panels, bad, Digits, ["a", "b"], ["c", "d"]));
        Assert.Contains("labels[3]", ex.Message);
        Assert.Throws<ProbeException>(() => Figures.ScatterGrid(panels, labels, Digits, ["a"], ["c", "d"]));
    }

    [Fact]
    public void Heatmap_prints_values_only_when_cells_fit_the_text()
    {
        // 4 x 4 cells at column width are large: printed values change the image.
        var big = SimilarityMatrix(4);
        string[] l4 = ["a", "b", "c", "d"];
        var withValues = FigureExporter.Export(Figures.Heatmap(big, l4, l4, showValues: true), FigureFormat.Png, Small);
        var without = FigureExporter.Export(Figures.Heatmap(big, l4, l4, showValues: false), FigureFormat.Png, Small);
        Assert.False(withValues.AsSpan().SequenceEqual(without));

        // 40 x 40 cells are ~5 px: "0.00" cannot fit, so asking for values changes nothing.
        var small = SimilarityMatrix(40);
        var l40 = Enumerable.Range(0, 40).Select(i => "L" + i).ToArray();
        var a = FigureExporter.Export(Figures.Heatmap(small, l40, l40, showValues: true), FigureFormat.Png, Small);
        var b = FigureExporter.Export(Figures.Heatmap(small, l40, l40, showValues: false), FigureFormat.Png, Small);
        Assert.True(a.AsSpan().SequenceEqual(b));
    }

    [Fact]
    public void Heatmap_orients_row_zero_at_the_top_and_uses_the_fixed_range()
    {
        // Row 0 all 1.0 (viridis yellow), row 1 all 0.0 (viridis dark purple); the range is fixed at [0, 1].
        double[][] v = [[1.0, 1.0], [0.0, 0.0]];
        var model = Figures.Heatmap(v, ["top", "bottom"], ["x", "y"], showValues: false);
        using var bmp = Decode(FigureExporter.Export(model, FigureFormat.Png, Small));
        var plot = model.PlotArea;
        double scale = Small.Dpi / 96.0;
        int cx = (int)((plot.Left + plot.Width * 0.25) * scale);
        var top = bmp.GetPixel(cx, (int)((plot.Top + plot.Height * 0.25) * scale));
        var bottom = bmp.GetPixel(cx, (int)((plot.Top + plot.Height * 0.75) * scale));
        Assert.True(Luminance(top) > 180, $"top row should be bright yellow, got {top}");
        Assert.True(Luminance(bottom) < 60, $"bottom row should be dark purple, got {bottom}");
    }

    [Fact]
    public void Heatmap_rejects_nan_ragged_and_mismatched_labels()
    {
        var ex = Assert.Throws<ProbeException>(() => Figures.Heatmap([[0.1, double.NaN]], ["r"], ["a", "b"]));
        Assert.Contains("[0][1]", ex.Message);
        ex = Assert.Throws<ProbeException>(() => Figures.Heatmap([[0.1, 0.2], [0.3]], ["r", "s"], ["a", "b"]));
        Assert.Contains("ragged", ex.Message);
        ex = Assert.Throws<ProbeException>(() => Figures.Heatmap([[0.1, 0.2]], ["r"], ["a"]));
        Assert.Contains("column labels", ex.Message);
        Assert.Throws<ProbeException>(() => Figures.Heatmap([[0.1]], ["r"], ["a"], min: 1, max: 1));
    }

    [Fact]
    public void Histogram_counts_follow_numpy_histogram_rules()
    {
        // numpy.histogram: bins are half-open [a, b) except the last, which includes its right edge; values outside
        // the range are ignored. np.histogram([0, .1, .5, .99, 1, 1.5, -0.2], bins=2, range=(0, 1)) -> [2, 3].
        Assert.Equal(new[] { 2, 3 }, Figures.HistogramCounts([0, 0.1, 0.5, 0.99, 1.0, 1.5, -0.2], 2, 0, 1));
        Assert.Equal(new[] { 1, 1, 1, 1 }, Figures.HistogramCounts([0.0, 0.25, 0.5, 1.0], 4, 0, 1));
        var model = Figures.Histogram([0.1, 0.2, 0.2, 0.9], 4, 0, 1);
        var items = model.Series.OfType<HistogramSeries>().Single().Items;
        Assert.Equal(4, items.Count);
        Assert.Equal(new[] { 3, 0, 0, 1 }, items.Select(i => i.Count).ToArray());
        Assert.Throws<ProbeException>(() => Figures.Histogram([0.1, double.PositiveInfinity]));
        Assert.Throws<ProbeException>(() => Figures.Histogram([0.1], bins: 0));
    }

    [Fact]
    public void StackedBar_stacks_series_in_order_with_given_colours()
    {
        var model = Figures.StackedBar(["l1", "l2"], [new NamedSeries("alive", [0.7, 0.5]), new NamedSeries("dead", [0.3, 0.5])],
            colors: ["#009E73", "#D55E00"]);
        var bars = model.Series.OfType<BarSeries>().ToList();
        Assert.Equal(2, bars.Count);
        Assert.All(bars, b => Assert.True(b.IsStacked));
        Assert.Equal(OxyColor.FromRgb(0x00, 0x9E, 0x73), bars[0].FillColor);
        Assert.Equal(OxyColor.FromRgb(0xD5, 0x5E, 0x00), bars[1].FillColor);
        Assert.Throws<ProbeException>(() => Figures.StackedBar(["l1"], [new NamedSeries("x", [-0.1])]));
        Assert.Throws<ProbeException>(() => Figures.StackedBar(["l1"], [new NamedSeries("x", [0.1])], colors: ["not a colour"]));
    }

    [Fact]
    public void LineChart_checks_lengths_and_orders_sequential_colours()
    {
        var ex = Assert.Throws<ProbeException>(() => Figures.LineChart(["a", "b"], [new NamedSeries("s", [1.0])]));
        Assert.Contains("series 's'", ex.Message);
        var model = Figures.LineChart(["a", "b"], [new NamedSeries("e0", [1.0, 2]), new NamedSeries("e1", [2.0, 3]), new NamedSeries("e2", [3.0, 4])], sequentialColors: true);
        var colours = model.Series.OfType<LineSeries>().Select(s => s.Color).ToList();
        Assert.Equal(3, colours.Distinct().Count());
        // Sequential colours run dark to light (viridis), so each later checkpoint is brighter.
        var lum = colours.Select(c => 0.2126 * c.R + 0.7152 * c.G + 0.0722 * c.B).ToList();
        Assert.True(lum[0] < lum[1] && lum[1] < lum[2]);
    }

    [Fact]
    public void UnitTimeline_sorts_units_by_final_rate_when_asked()
    {
        double[][] byCheckpoint = [[0.5, 0.5, 0.5], [0.1, 0.9, 0.4]];
        var model = Figures.UnitTimeline(byCheckpoint, ["0", "1"], sortUnitsByFinalRate: true);
        var hm = model.Series.OfType<HeatMapSeries>().Single();
        // Data[x = checkpoint, y = row]; rows sorted by the last checkpoint, highest first: units 1, 2, 0.
        Assert.Equal(new[] { 0.9, 0.4, 0.1 }, Enumerable.Range(0, 3).Select(r => hm.Data[1, r]).ToArray());
        Assert.Throws<ProbeException>(() => Figures.UnitTimeline(byCheckpoint, ["0"]));
    }

    [Fact]
    public void DecisionBoundary_rejects_non_class_values()
    {
        var ex = Assert.Throws<ProbeException>(() => Figures.DecisionBoundary([[0, 1.5]], 0, 1, 0, 1, [0.5], [0.5], [0], ["a", "b"]));
        Assert.Contains("classMap[0][1]", ex.Message);
    }

    [Fact]
    public void Categorical_palette_has_ten_distinct_colours_and_cycles_markers_after()
    {
        Assert.Equal(10, Palettes.Categorical.Distinct().Count());
        Assert.Equal(Palettes.ClassColor(3), Palettes.ClassColor(13));
        Assert.NotEqual(Palettes.ClassMarker(3), Palettes.ClassMarker(13));
        // Okabe-Ito blue and orange, as published (Okabe & Ito 2008, "Color Universal Design").
        Assert.Equal(OxyColor.FromRgb(0, 114, 178), Palettes.Categorical[0]);
        Assert.Equal(OxyColor.FromRgb(230, 159, 0), Palettes.Categorical[1]);
    }

    [Fact]
    public void Every_class_colour_is_visible_on_white()
    {
        // WCAG 2 contrast ratio, worked out here from its definition: (L_white + 0.05) / (L + 0.05). Okabe-Ito's pure
        // yellow (#F0E442) scores 1.32 and vanished in scatter plots; every class colour must reach 2.2.
        static double Lin(byte v) { double s = v / 255.0; return s <= 0.03928 ? s / 12.92 : Math.Pow((s + 0.055) / 1.055, 2.4); }
        foreach (var c in Palettes.Categorical)
        {
            double l = 0.2126 * Lin(c.R) + 0.7152 * Lin(c.G) + 0.0722 * Lin(c.B);
            Assert.True(1.05 / (l + 0.05) >= 2.2, $"{c} has contrast {1.05 / (l + 0.05):F2} on white");
        }
    }
}
