using System.Text.Json;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>
/// Rows, splits, sample caps and class names that reports, comparisons and evolution figures must get right (each of
/// these once gave a wrong result silently; every check is against the data's own labels, the runs' own splits or the
/// data's class names).
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class RowsSplitsAndCapsTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "probe-rows-splits-" + Guid.NewGuid().ToString("N"));
    public RowsSplitsAndCapsTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static JsonElement Section(JsonDocument d, string name) =>
        d.RootElement.GetProperty("sections").EnumerateArray().First(s => s.GetProperty("name").GetString() == name);

    /// <summary>
    /// 20,600 two-feature rows; rows below 20,000 are classes 0/1, rows 20,000 and up are class 2. Feature 0 = row / n,
    /// so every row is distinct.
    /// </summary>
    static Dataset Big()
    {
        const int n = 20_600;
        var x = new Matrix(n, 2);
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            y[i] = i >= 20_000 ? 2 : i % 2;
            x[i, 0] = (float)i / n;
            x[i, 1] = y[i] + 0.1f * (i % 7);
        }
        return new Dataset("big", x, y, [2]);
    }

    [Fact]
    public void Report_evolution_sample_indices_are_rows_of_the_data_set()
    {
        var data = Big();
        var run = new Trainer("adam", Epochs: 1, BatchSize: 512, LearningRate: 1e-2, Seed: 0).Train(ModelSpec.Parse("mlp:2-8-3:relu"), data, "big", Path.Combine(_dir, "run"));
        var settings = new ReportSettings(Seed: 0, QualitySamples: 300, CkaSamples: 300, EvolutionSamples: 300, TsneIterations: 60);
        string outDir = Path.Combine(_dir, "report");
        Report.ForRuns([new ReportRun("run", run)], data, "big", settings, outDir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        var idx = Section(doc, Report.EvolutionSection).GetProperty("data").GetProperty("evolution").GetProperty("sample_indices")
            .EnumerateArray().Select(e => e.GetInt32()).ToArray();
        // The stratified sample holds class-2 rows (3% of the data), which all lie at rows >= 20,000 of the data set.
        int class2AtReportedRows = idx.Count(i => data.Labels![i] == 2);
        Assert.True(class2AtReportedRows > 0,
            $"report.json lists {idx.Length} evolution sample indices, max {idx.Max()}, none of them a class-2 row: they index the 20,000-row subsample, not the data set");
    }

    /// <summary>Two runs of the same data that differ only in seed (so in their train/test split).</summary>
    (RunFolder A, RunFolder B) TwoSeeds()
    {
        var data = ReferenceFixtures.Digits();
        var spec = ModelSpec.Parse("mlp:64-16-10:relu");
        var a = new Trainer(Epochs: 0, Seed: 0).Train(spec, data, "digits", Path.Combine(_dir, "seed0"));
        var b = new Trainer(Epochs: 0, Seed: 1).Train(spec, data, "digits", Path.Combine(_dir, "seed1"));
        return (a, b);
    }

    [Fact]
    public void Compare_two_runs_on_the_held_out_split_uses_only_rows_neither_run_trained_on()
    {
        var (a, b) = TwoSeeds();
        var r = Tests.Cli.Cli.Run("compare", "--run", a.Directory, "--run-b", b.Directory, "--layers", "relu1", "--json");
        Assert.Equal(0, r.Code);
        using var j = JsonDocument.Parse(r.Out);
        int samples = j.RootElement.GetProperty("samples").GetInt32();
        var bTrain = new HashSet<int>(b.TrainIndices);
        int leaked = a.Info.Split.TestIndices.Count(bTrain.Contains);
        int heldOutByBoth = a.Info.Split.TestIndices.Length - leaked;
        Assert.True(samples == heldOutByBoth,
            $"compared on {samples} rows labelled '{j.RootElement.GetProperty("data")}', of which {leaked} are rows run B trained on (held out by both: {heldOutByBoth})");
    }

    [Fact]
    public void Compare_refuses_a_split_with_other_data()
    {
        var (a, _) = TwoSeeds();
        var r = Tests.Cli.Cli.Run("compare", "--run", a.Directory, "--data", "digits", "--split", "train", "--layers", "relu1", "--json");
        Assert.Equal(2, r.Code);
        Assert.Contains("--split picks rows of the run's own data", r.Err);
    }

    [Fact]
    public void Report_max_samples_caps_every_section()
    {
        var data = ReferenceFixtures.Digits();
        var run = new Trainer(Epochs: 1, Seed: 0).Train(ModelSpec.Parse("mlp:64-16-10:relu"), data, "digits", Path.Combine(_dir, "run"));
        string outDir = Path.Combine(_dir, "report");
        // What `probe report --run RUN --max-samples 200` passes.
        Report.ForRuns([new ReportRun("run", run)], data, "digits", new ReportSettings(Seed: 0, MaxSamples: 200, TsneIterations: 60), outDir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        int analysed = doc.RootElement.GetProperty("provenance").GetProperty("data").GetProperty("analysed_samples").GetInt32();
        int quality = Section(doc, Report.QualitySection).GetProperty("data").GetProperty("representation").GetProperty("samples").GetInt32();
        int cka = Section(doc, Report.SimilaritySection).GetProperty("data").GetProperty("cka").GetProperty("within").GetProperty("samples").GetInt32();
        int evo = Section(doc, Report.EvolutionSection).GetProperty("data").GetProperty("evolution").GetProperty("samples").GetInt32();
        Assert.True(quality <= 200 && cka <= 200 && evo <= 200,
            $"--max-samples 200 (provenance analysed_samples {analysed}): representation quality used {quality}, CKA {cka}, evolution {evo} samples");
    }

    [Fact]
    public void Evolution_legend_uses_the_data_sets_class_names()
    {
        // An ImageFolder of 2 x 2 gray PGM images in classes 'cat' and 'dog' (names flow from the folders).
        string images = Path.Combine(_dir, "images");
        var rng = new Random(0);
        foreach (var (cls, k) in new[] { ("cat", 0), ("dog", 1) })
        {
            Directory.CreateDirectory(Path.Combine(images, cls));
            for (int i = 0; i < 12; i++)
                File.WriteAllBytes(Path.Combine(images, cls, $"{i:D2}.pgm"),
                    [.. System.Text.Encoding.ASCII.GetBytes("P5\n2 2\n255\n"), .. Enumerable.Range(0, 4).Select(_ => (byte)(100 * k + rng.Next(100)))]);
        }
        string data = $"images:{images}?gray";
        string run = Path.Combine(_dir, "run");
        var t = Tests.Cli.Cli.Run("train", "--model", "mlp:4-8-2:relu", "--data", data, "--epochs", "1", "--out", run);
        Assert.True(t.Code == 0, t.Err);
        Assert.Equal(["cat", "dog"], DataSource.Parse(data).Load().ClassNames!);
        string fig = Path.Combine(_dir, "evo.svg");
        var e = Tests.Cli.Cli.Run("evolution", "--run", run, "--out", fig);
        Assert.True(e.Code == 0, e.Err);
        var texts = Tests.Reporting.SvgText.Read(File.ReadAllBytes(fig)).Texts.Select(x => x.Text).ToList();
        Assert.True(texts.Contains("cat") && texts.Contains("dog"), "legend texts: " + string.Join(" | ", texts));
    }
}
