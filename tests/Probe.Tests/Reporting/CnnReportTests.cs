using System.Text.Json;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>
/// The report of a CNN (or ResNet) run draws the layer-evolution figures (they were left out for every run but an MLP): one PCA
/// grid over the CNN's activation layers and the output (relu1 relu2 relu3 fc2, as README names a cnn: spec's
/// children), and the t-SNE of the input against the last hidden activation.
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class CnnReportTests
{
    [Fact]
    public void A_cnn_run_report_has_layer_evolution_figures()
    {
        var data = DataSource.Parse("digits").Load();
        var settings = new ReportSettings(Seed: 3, QualitySamples: 200, CkaSamples: 200, EvolutionSamples: 100, TsneIterations: 100);
        CheckRunReport("cnn:8x8:10:4-8-16", data, epochs: 2, settings, ["relu1", "relu2", "relu3", "fc2"], "relu3",
            barsWidthPx: 1050);   // three layers' bars fit one journal column (3.5 in at 300 dpi)
    }

    /// <summary>
    /// A ResNet run's report draws them too (it said they were for MLP and CNN runs only, though probe evolution drew
    /// them): each stage's output and fc, and the t-SNE of the input against the last stage.
    /// </summary>
    [Fact]
    public void A_resnet_run_report_has_layer_evolution_figures_of_its_stages()
    {
        var data = DataSource.Parse("digits").Load().Subset(Enumerable.Range(0, 300).ToArray());
        var settings = new ReportSettings(Seed: 3, QualitySamples: 100, CkaSamples: 100, EvolutionSamples: 60, TsneIterations: 50);
        // Its 17 ReLU calls get about 0.3 in per bar (their names ran into each other at one column's 3.5 in), at 300 dpi.
        CheckRunReport("resnet:18:w4:c10:1x8x8", data, epochs: 1, settings, ["layer1", "layer2", "layer3", "layer4", "fc"], "layer4",
            barsWidthPx: (int)Math.Round((1.3 + 0.3 * 17) * 300));
    }

    /// <summary>
    /// Trains <paramref name="spec"/> on <paramref name="data"/>, reports the run, and checks its evolution section (the
    /// PCA grid's columns, the t-SNE of <paramref name="lastHidden"/>, both figures written) and the width of its
    /// dead-unit bars.
    /// </summary>
    static void CheckRunReport(string spec, Dataset data, int epochs, ReportSettings settings, string[] columns, string lastHidden, int barsWidthPx)
    {
        string root = Path.Combine(Path.GetTempPath(), "probe-runreport-" + Guid.NewGuid().ToString("N"));
        try
        {
            new Trainer("adam", epochs, 32, 0.01, Seed: 1).Train(ModelSpec.Parse(spec), data, "digits", Path.Combine(root, "run"));
            string dir = Path.Combine(root, "report");
            Report.ForRuns([new ReportRun("run", RunFolder.Load(Path.Combine(root, "run")))], data, "digits", settings, dir);

            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
            JsonElement Section(string id) => doc.RootElement.GetProperty("sections").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);
            var evolution = Section("layer-evolution");
            Assert.Equal(JsonValueKind.Null, evolution.GetProperty("left_out").ValueKind);
            var figures = evolution.GetProperty("figures").EnumerateArray().ToList();
            Assert.Equal(2, figures.Count);
            foreach (var f in figures)
            {
                Assert.True(File.Exists(Path.Combine(dir, f.GetProperty("png").GetString()!)));
                Assert.True(File.Exists(Path.Combine(dir, f.GetProperty("svg").GetString()!)));
            }
            var layers = evolution.GetProperty("data").GetProperty("evolution").GetProperty("layers").EnumerateArray().Select(l => l.GetString()!).ToArray();
            Assert.Equal(columns, layers);
            Assert.Contains("averaged per channel", figures[0].GetProperty("caption").GetString());
            Assert.Contains(lastHidden, figures[1].GetProperty("caption").GetString());
            // The captions say which data the panels show, how the samples were drawn, with which seed, and that each
            // panel has its own scale (a reader cannot compare spreads between panels).
            string pcaCaption = figures[0].GetProperty("caption").GetString()!, tsneCaption = figures[1].GetProperty("caption").GetString()!;
            int shown = evolution.GetProperty("data").GetProperty("evolution").GetProperty("samples").GetInt32();
            Assert.Contains($"The same {shown} of the {data.Count} samples of {data.Name} (stratified by class, seed {settings.Seed})", pcaCaption);
            Assert.Contains("each panel is scaled to fit its own points", pcaCaption);
            Assert.Contains($"seed {settings.Seed}", tsneCaption);
            Assert.Contains("each panel is scaled to fit its own points", tsneCaption);
            string bars = Section("dead-units").GetProperty("figures").EnumerateArray()
                .Single(f => f.GetProperty("name").GetString()!.EndsWith("fractions", StringComparison.Ordinal)).GetProperty("png").GetString()!;
            Assert.Equal(barsWidthPx, PngWidth(Path.Combine(dir, bars)));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    /// <summary>A PNG's width in pixels (the IHDR chunk, big-endian at bytes 16..19).</summary>
    static int PngWidth(string path)
    {
        var b = File.ReadAllBytes(path);
        return (b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19];
    }
}
