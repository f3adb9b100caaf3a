using System.Text.Json;
using Probe.Cli;
using Probe.Data;
using Probe.Projection;
using Xunit;

namespace Probe.Tests.Cli;

public sealed class EvolutionCommandTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "probe-evo-cli-" + Guid.NewGuid().ToString("N"));

    public EvolutionCommandTests() => Directory.CreateDirectory(dir);

    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    static (int Code, string Out, string Err) Run(params string[] args) => Cli.Run(args);

    string F(string name) => Path.Combine(dir, name);

    (string Acts, string Labels) WriteDigits(int n)
    {
        var x = Npy.ReadMatrix(ReferenceFixtures.Shared("digits_relu3.npy")).Slice(0, n);
        var y = Npy.ReadInt32(ReferenceFixtures.Shared("digits_labels.npy")).Take(n).ToArray();
        Npy.Write(F("acts.npy"), x);
        Npy.Write(F("y.npy"), y);
        return (F("acts.npy"), F("y.npy"));
    }

    [Fact]
    public void ProjectPcaWritesTheEmbeddingOfThePcaFit()
    {
        var (acts, labels) = WriteDigits(200);
        var (code, output, err) = Run("project", "--method", "pca", "--acts", acts, "--labels", labels, "--out", F("emb.npy"), "--json");
        Assert.True(code == 0, err);
        var emb = Npy.ReadMatrix(F("emb.npy"));
        var expected = new Pca(2).FitTransform(Npy.ReadMatrix(acts));
        Assert.Equal(expected.Data, emb.Data);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(200, doc.RootElement.GetProperty("samples").GetInt32());
        Assert.InRange(doc.RootElement.GetProperty("trustworthiness").GetDouble(), 0.5, 1.0);
    }

    [Fact]
    public void ProjectTsneWritesAFigure()
    {
        var (acts, labels) = WriteDigits(150);
        var (code, output, err) = Run("project", "--method", "tsne", "--acts", acts, "--labels", labels, "--perplexity", "15", "--iterations", "250", "--out", F("fig.png"), "--dpi", "100", "--width-in", "3");
        Assert.True(code == 0, err);
        Assert.Contains("KL", output);
        var png = File.ReadAllBytes(F("fig.png"));
        Assert.Equal(300, (png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19]);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(20_000)]
    public void ProjectFigureMarkersCoverAtMostThePlotHoweverManyPoints(int n)
    {
        // probe project's markers were 1.8 pt up to 1,000 points and 1.2 pt above, however many: 20,000 points drew 1.7
        // times the figure's area in ink, one solid blob. Now they follow the evolution grid's rule (Figures.FitMarkers):
        // 1.6 pt, shrunk so the markers cover at most the plot.
        var rng = new Random(5);
        var x = new float[n * 4];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() + (i % 4 == 0 ? i / 4 % 3 : 0));
        Npy.Write(F("acts.npy"), new Matrix(n, 4, x));
        Npy.Write(F("y.npy"), Enumerable.Range(0, n).Select(i => i % 3).ToArray());
        var (code, _, err) = Run("project", "--acts", F("acts.npy"), "--labels", F("y.npy"), "--quality-samples", "0", "--out", F("fig.svg"));
        Assert.True(code == 0, err);
        string svg = File.ReadAllText(F("fig.svg"));
        var size = System.Text.RegularExpressions.Regex.Match(svg, "width=\"([0-9.]+)\" height=\"([0-9.]+)\"");
        double area = double.Parse(size.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * double.Parse(size.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        // Markers are circles written as two arcs of radius r ("a r r 0 1 0 ..."); the data's is the most common radius.
        var radii = System.Text.RegularExpressions.Regex.Matches(svg, "a([0-9.]+) \\1 0 1 0")
            .Select(m => double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        double r = radii.GroupBy(v => v).MaxBy(g => g.Count())!.Key;
        double ink = n * Math.PI * r * r;
        Assert.True(ink < 0.75 * area, $"{n} markers of radius {r} cover {ink / area:0.00} of the figure");
        if (n == 500) Assert.Equal(1.6 * 96 / 72, r, 1);
    }

    [Fact]
    public void ProjectErrorsAreUsageOrOneLineFailures()
    {
        var (acts, _) = WriteDigits(50);
        Assert.Equal(2, Run("project", "--method", "umap", "--acts", acts, "--out", F("e.npy")).Code);
        Assert.Equal(2, Run("project", "--acts", acts, "--out", F("e.txt")).Code);
        var (code, _, err) = Run("project", "--acts", F("missing.npy"), "--out", F("e.npy"));
        Assert.Equal(2, code); // a file that does not exist is a bad value
        Assert.Contains("does not exist", err);
        var (code2, _, err2) = Run("project", "--method", "tsne", "--acts", acts, "--perplexity", "30", "--out", F("e.npy"));
        Assert.Equal(1, code2);
        Assert.Contains("Perplexity", err2);
    }

    [Fact]
    public void EvolutionDrawsTheGridOfATrainedRun()
    {
        var (tc, _, terr) = Run("train", "--model", "mlp:2-8-2-2:tanh", "--data", "synthetic:circles?n=120", "--epochs", "2", "--lr", "0.02", "--out", F("run"));
        Assert.True(tc == 0, terr);
        var (code, output, err) = Run("evolution", "--run", F("run"), "--max-samples", "60", "--width-pt", "252", "--out", F("evo.svg"), "--json", "--save-data", F("evo.json"));
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(3 * 3, doc.RootElement.GetProperty("panels").GetArrayLength());
        Assert.Equal(60, doc.RootElement.GetProperty("samples").GetInt32());
        Assert.Contains(FileAssert.Svg(F("evo.svg")).Descendants().Where(e => e.Name.LocalName == "text"), t => t.Value.Contains("epoch 2"));
        using (var saved = JsonDocument.Parse(File.ReadAllText(F("evo.json"))))
            Assert.True(saved.RootElement.ValueKind == JsonValueKind.Object && saved.RootElement.EnumerateObject().Any(), "evo.json is empty");

        var (c2, _, e2) = Run("evolution", "--run", F("run"), "--epochs", "0,last", "--layers", "tanh2", "--method", "tsne", "--max-samples", "40", "--out", F("t.png"), "--dpi", "72");
        Assert.True(c2 == 0, e2);
        // 'final' names the last checkpoint as it does in probe similarity, cka and compare (--epochs 0,final); evolution
        // took only 'last' and refused 'final' (exit 2).
        var (c3, o3, e3) = Run("evolution", "--run", F("run"), "--epochs", "0,final", "--layers", "tanh2", "--max-samples", "40", "--quality-samples", "0", "--out", F("f.svg"), "--json");
        Assert.True(c3 == 0, e3);
        using var final = JsonDocument.Parse(o3);
        Assert.Equal(new[] { 0, 2 }, final.RootElement.GetProperty("epochs").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    [Fact]
    public void EvolutionErrors()
    {
        Assert.Equal(2, Run("evolution", "--run", F("run"), "--out", F("x.txt")).Code);
        Assert.Equal(2, Run("evolution", "--out", F("x.png")).Code);
        var (code, _, err) = Run("evolution", "--run", F("nope"), "--out", F("x.png"));
        Assert.Equal(2, code); // a run folder that does not exist is a bad value
        Assert.Contains("does not exist", err);
    }
}
