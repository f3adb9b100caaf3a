using System.Text.Json;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>What the report of one model (probe report --model) records and shows.</summary>
public class ReportForModelTests
{
    [Fact]
    public void An_onnx_models_report_records_the_files_hash()
    {
        // An ONNX file carries its own weights, so probe report --model FILE.onnx recorded no hash at all
        // ("weights sha256 none"): the report could not say which export it described.
        const string sha256sum = "7441cfe0650ce82006580536f3c520180d24d6f6c1fbb14327167a943234e95a"; // sha256sum tests/fixtures/resnet/resnet18_w4.onnx
        string dir = ReportOfNoise(seed: 5, n: 40);
        try
        {
            var model = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json"))).RootElement
                .GetProperty("provenance").GetProperty("models")[0];
            Assert.Equal(sha256sum, model.GetProperty("model_sha256").GetString());
            Assert.Equal(JsonValueKind.Null, model.GetProperty("weights_sha256").ValueKind);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void An_undefined_Fisher_criterion_is_marked_and_explained()
    {
        // resnet18_w4's layer4 has 32 channels: on 16 samples of 4 classes the pooled within-class scatter (rank at most
        // 16 - 4 = 12) is singular, so the Fisher trace ratio is undefined. The report's table left the cell empty.
        string dir = ReportOfNoise(seed: 6, n: 16);
        try
        {
            string html = File.ReadAllText(Path.Combine(dir, "index.html"));
            var row = System.Text.RegularExpressions.Regex.Match(html, "<tr><td>layer4.1.relu#1</td><td class=\"num\">32</td><td class=\"num\">[^<]*</td><td[^>]*>([^<]*)</td>");
            Assert.True(row.Success, "no quality row for layer4.1.relu#1");
            Assert.Equal("-", row.Groups[1].Value);
            Assert.Contains("Fisher trace ratio '-': undefined for that layer", System.Net.WebUtility.HtmlDecode(html));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    // Report.ForModel of tests/fixtures/resnet/resnet18_w4.onnx on n seeded uniform-noise images of 4 classes: the report's folder.
    static string ReportOfNoise(int seed, int n)
    {
        string onnx = Path.Combine(AppContext.BaseDirectory, "fixtures", "resnet", "resnet18_w4.onnx");
        string dir = Path.Combine(Path.GetTempPath(), "probe-report-noise-" + Guid.NewGuid().ToString("N"));
        var rng = new Random(seed);
        var x = new Matrix(n, 3 * 32 * 32, Enumerable.Range(0, n * 3 * 32 * 32).Select(_ => (float)rng.NextDouble()).ToArray());
        var data = new Dataset("noise", x, Enumerable.Range(0, n).Select(i => i % 4).ToArray(), [3, 32, 32]);
        using (var source = ModelLoader.Open(onnx, null))
            Report.ForModel(source, onnx, null, data, "noise", new ReportSettings(Seed: 1, QualitySamples: n, CkaSamples: n), dir);
        return dir;
    }
}
