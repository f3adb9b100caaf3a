using System.Text.Json;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>
/// The report of a CNN run draws the layer-evolution figures (they were left out for every run but an MLP): one PCA
/// grid over the CNN's activation layers and the output (relu1 relu2 relu3 fc2, as README names a cnn: spec's
/// children), and the t-SNE of the input against the last hidden activation.
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class CnnReportTests
{
    [Fact]
    public void A_cnn_run_report_has_layer_evolution_figures()
    {
        string root = Path.Combine(Path.GetTempPath(), "probe-cnnreport-" + Guid.NewGuid().ToString("N"));
        try
        {
            var data = DataSource.Parse("digits").Load();
            new Trainer("adam", 2, 32, 0.01, Seed: 1).Train(ModelSpec.Parse("cnn:8x8:10:4-8-16"), data, "digits", Path.Combine(root, "run"));
            var settings = new ReportSettings(Seed: 3, QualitySamples: 200, CkaSamples: 200, EvolutionSamples: 100, TsneIterations: 100);
            string dir = Path.Combine(root, "report");
            Report.ForRuns([new ReportRun("cnn", RunFolder.Load(Path.Combine(root, "run")))], data, "digits", settings, dir);

            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
            var evolution = doc.RootElement.GetProperty("sections").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "layer-evolution");
            Assert.Equal(JsonValueKind.Null, evolution.GetProperty("left_out").ValueKind);
            var figures = evolution.GetProperty("figures").EnumerateArray().ToList();
            Assert.Equal(2, figures.Count);
            foreach (var f in figures)
            {
                Assert.True(File.Exists(Path.Combine(dir, f.GetProperty("png").GetString()!)));
                Assert.True(File.Exists(Path.Combine(dir, f.GetProperty("svg").GetString()!)));
            }
            var layers = evolution.GetProperty("data").GetProperty("evolution").GetProperty("layers").EnumerateArray().Select(l => l.GetString()!).ToArray();
            Assert.Equal(new[] { "relu1", "relu2", "relu3", "fc2" }, layers);
            Assert.Contains("averaged per channel", figures[0].GetProperty("caption").GetString());
            Assert.Contains("relu3", figures[1].GetProperty("caption").GetString());
            // Three layers' bars fit one journal column (3.5 in at 300 dpi).
            var dead = doc.RootElement.GetProperty("sections").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "dead-units");
            string bars = dead.GetProperty("figures").EnumerateArray().Single(f => f.GetProperty("name").GetString()!.EndsWith("fractions", StringComparison.Ordinal)).GetProperty("png").GetString()!;
            Assert.Equal(1050, PngWidth(Path.Combine(dir, bars)));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }
    /// <summary>
    /// A ResNet run's report draws them too (it said they were for MLP and CNN runs only, though probe evolution drew
    /// them): each stage's output and fc, and the t-SNE of the input against the last stage.
    /// </summary>
    [Fact]
    public void A_resnet_run_report_has_layer_evolution_figures_of_its_stages()
    {
        string root = Path.Combine(Path.GetTempPath(), "probe-resnetreport-" + Guid.NewGuid().ToString("N"));
        try
        {
            var data = DataSource.Parse("digits").Load();
            data = data.Subset(Enumerable.Range(0, 300).ToArray());
            new Trainer("adam", 1, 32, 0.01, Seed: 1).Train(ModelSpec.Parse("resnet:18:w4:c10:1x8x8"), data, "digits", Path.Combine(root, "run"));
            var settings = new ReportSettings(Seed: 3, QualitySamples: 100, CkaSamples: 100, EvolutionSamples: 60, TsneIterations: 50);
            string dir = Path.Combine(root, "report");
            Report.ForRuns([new ReportRun("resnet", RunFolder.Load(Path.Combine(root, "run")))], data, "digits", settings, dir);

            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
            var evolution = doc.RootElement.GetProperty("sections").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "layer-evolution");
            Assert.Equal(JsonValueKind.Null, evolution.GetProperty("left_out").ValueKind);
            var figures = evolution.GetProperty("figures").EnumerateArray().ToList();
            Assert.Equal(2, figures.Count);
            var layers = evolution.GetProperty("data").GetProperty("evolution").GetProperty("layers").EnumerateArray().Select(l => l.GetString()!).ToArray();
            Assert.Equal(new[] { "layer1", "layer2", "layer3", "layer4", "fc" }, layers);
            Assert.Contains("averaged per channel", figures[0].GetProperty("caption").GetString());
            Assert.Contains("layer4", figures[1].GetProperty("caption").GetString());
            // Its 17 ReLU calls get about 0.3 in per bar (their names ran into each other at one column's 3.5 in), at 300 dpi.
            var dead = doc.RootElement.GetProperty("sections").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "dead-units");
            string bars = dead.GetProperty("figures").EnumerateArray().Single(f => f.GetProperty("name").GetString()!.EndsWith("fractions", StringComparison.Ordinal)).GetProperty("png").GetString()!;
            Assert.Equal((int)Math.Round((1.3 + 0.3 * 17) * 300), PngWidth(Path.Combine(dir, bars)));
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
