using OxyPlot;
using Probe.Reporting;
using SkiaSharp;

namespace Probe.Tests.Reporting;

/// <summary>Deterministic synthetic inputs for figure tests, and PNG inspection helpers.</summary>
internal static class ReportingTestData
{
    public static readonly string[] Layers = ["fc1", "relu1", "fc2", "relu2", "fc3"];
    public static readonly string[] Digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    public static double[][] SimilarityMatrix(int n)
    {
        var v = new double[n][];
        for (int i = 0; i < n; i++)
        {
            v[i] = new double[n];
            for (int j = 0; j < n; j++) v[i][j] = Math.Exp(-Math.Abs(i - j) * 0.4);
        }
        return v;
    }

    /// <summary>Ten classes on a ring, radius grows with <paramref name="spread"/>; Box-Muller noise from a fixed seed.</summary>
    public static ScatterPanel Ring(int n, double spread, int seed, out int[] labels)
    {
        var rng = new Random(seed);
        double G() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        labels = new int[n];
        var x = new double[n];
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = i % 10;
            double a = labels[i] * 2 * Math.PI / 10;
            x[i] = spread * Math.Cos(a) + G();
            y[i] = spread * Math.Sin(a) + G();
        }
        return new ScatterPanel(x, y);
    }

    public static (ScatterPanel[][] Panels, int[] Labels) Grid(int rows, int cols, int n = 200)
    {
        int[] labels = [];
        var panels = new ScatterPanel[rows][];
        for (int r = 0; r < rows; r++)
        {
            panels[r] = new ScatterPanel[cols];
            for (int c = 0; c < cols; c++) panels[r][c] = Ring(n, 1 + r + c, seed: 100 * r + c, out labels);
        }
        return (panels, labels);
    }

    /// <summary>Every figure type, built from the same fixed inputs each call.</summary>
    public static IEnumerable<(string Name, Func<PlotModel> Build)> AllFigures()
    {
        yield return ("heatmap", () => Figures.Heatmap(SimilarityMatrix(5), Layers, Layers, "Linear CKA", colorBarTitle: "CKA"));
        yield return ("scattergrid", () =>
        {
            var (p, l) = Grid(2, 3, 120);
            return Figures.ScatterGrid(p, l, Digits, ["epoch 0", "epoch 9"], ["fc1", "fc2", "fc3"], "Layer evolution");
        });
        yield return ("scatter", () =>
        {
            var p = Ring(200, 3, 7, out var l);
            return Figures.Scatter(p.X, p.Y, l, Digits, "fc2", "PC 1", "PC 2");
        });
        yield return ("stackedbar", () => Figures.StackedBar(["relu1", "relu2", "relu3"],
            [new NamedSeries("alive", [0.8, 0.6, 0.4]), new NamedSeries("dying", [0.1, 0.15, 0.2]), new NamedSeries("dead", [0.1, 0.25, 0.4])],
            "ReLU health", colors: ["#009E73", "#E69F00", "#D55E00"]));
        yield return ("histogram", () => Figures.Histogram(Enumerable.Range(0, 100).Select(i => (i * 37 % 100) / 100.0).ToArray(), 10, 0, 1, "Firing rates", "rate"));
        yield return ("linechart", () => Figures.LineChart(Layers,
            [new NamedSeries("epoch 0", [0.5, 0.55, 0.6, 0.62, 0.7]), new NamedSeries("epoch 9", [0.6, 0.7, 0.8, 0.85, 0.9])],
            "Probe accuracy", "layer", "accuracy", sequentialColors: true));
        yield return ("linechart-numeric", () => Figures.LineChart(new double[] { 0, 1, 2, 5, 10 },
            [new NamedSeries("relu1", [0, 0.05, 0.1, 0.2, 0.3])], "Dead fraction", "epoch", "dead"));
        yield return ("timeline", () => Figures.UnitTimeline(
            Enumerable.Range(0, 4).Select(c => Enumerable.Range(0, 32).Select(u => ((u * 7 + c * 3) % 10) / 10.0).ToArray()).ToArray(),
            ["0", "1", "5", "10"], "relu1 units", sortUnitsByFinalRate: true));
        yield return ("gridwarp", () => Figures.GridWarp(
            Enumerable.Range(0, 6).Select(k => new Polyline([0, 0.5, 1], [k * 0.2, k * 0.2 + 0.1, Math.Max(0, k * 0.2 - 0.3)])).ToList(),
            [0.0, 1.0], [0.0, 1.0], [0, 1], ["a", "b"], "Folding", "h1", "h2"));
        yield return ("decision", () =>
        {
            var map = Enumerable.Range(0, 20).Select(i => Enumerable.Range(0, 20).Select(j => (i < 10) == (j < 10) ? 0.0 : 1.0).ToArray()).ToArray();
            return Figures.DecisionBoundary(map, -1, 1, -1, 1, [-0.5, 0.5, 0.5, -0.5], [-0.5, 0.5, -0.5, 0.5], [0, 0, 1, 1], ["same", "different"], "XOR", "x1", "x2");
        });
    }

    public static SKBitmap Decode(byte[] png) =>
        SKBitmap.Decode(png) ?? throw new Xunit.Sdk.XunitException("PNG did not decode");

    public static double Luminance(SKColor c) => 0.2126 * c.Red + 0.7152 * c.Green + 0.0722 * c.Blue;

    public static double Variance(SKBitmap bmp)
    {
        double sum = 0, sum2 = 0;
        long n = 0;
        for (int y = 0; y < bmp.Height; y += 2)
            for (int x = 0; x < bmp.Width; x += 2)
            {
                double l = Luminance(bmp.GetPixel(x, y));
                sum += l; sum2 += l * l; n++;
            }
        double mean = sum / n;
        return sum2 / n - mean * mean;
    }

    /// <summary>Pixels darker than mid-grey inside the rectangle given as fractions of the image size.</summary>
    public static int DarkPixels(SKBitmap bmp, double x0, double y0, double x1, double y1)
    {
        int count = 0;
        for (int y = (int)(y0 * bmp.Height); y < (int)(y1 * bmp.Height); y++)
            for (int x = (int)(x0 * bmp.Width); x < (int)(x1 * bmp.Width); x++)
                if (Luminance(bmp.GetPixel(x, y)) < 100) count++;
        return count;
    }

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "probe-reporting-tests", name + "-" + Environment.ProcessId);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
