using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>A small digits run and its report written twice (folders A and B) with the same seed.</summary>
public sealed class ReportFixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "probe-reportbuilder-" + Guid.NewGuid().ToString("N"));
    public string A => Path.Combine(Root, "A");
    public string B => Path.Combine(Root, "B");
    public string ModelReport => Path.Combine(Root, "M");

    public ReportFixture()
    {
        Directory.CreateDirectory(Root);
        var data = DataSource.Parse("digits").Load();
        var run = new Trainer("adam", 2, 32, 0.02, Seed: 1).Train(ModelSpec.Parse("mlp:64-24-16-10:relu"), data, "digits", Path.Combine(Root, "run"));
        var settings = new ReportSettings(Seed: 3, QualitySamples: 300, CkaSamples: 300, EvolutionSamples: 120, TsneIterations: 120);
        foreach (var dir in new[] { A, B })
            Report.ForRuns([new ReportRun("run", RunFolder.Load(Path.Combine(Root, "run")))], data, "digits", settings, dir);
        using var source = ModelLoader.Open(run.Info.Model, run.CheckpointPath(2));
        Report.ForModel(source, run.Info.Model, run.CheckpointPath(2), data, "digits", settings, ModelReport);
    }

    public void Dispose() => Directory.Delete(Root, true);
}

/// <summary>
/// The report as data and as a page: report.json is byte-identical for the same inputs and seed, validates against
/// schemas/report.schema.json, keeps numbers as numbers; index.html renders in headless Chromium at 1200 px with no
/// horizontal scroll, every image loaded, and the summary in the first screen.
/// </summary>
public class ReportBuilderTests(ReportFixture f) : IClassFixture<ReportFixture>
{
    private static JsonElement Schema()
    {
        using var d = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "schemas", "report.schema.json")));
        return d.RootElement.Clone();
    }

    private static JsonElement Load(string dir)
    {
        using var d = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
        return d.RootElement.Clone();
    }

    [Fact]
    public void The_library_refuses_to_replace_a_folder_that_is_not_a_report_unless_told_to()
    {
        string busy = Path.Combine(f.Root, "busy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(busy);
        File.WriteAllText(Path.Combine(busy, "keep.txt"), "keep me");
        var data = DataSource.Parse("digits").Load();
        var settings = new ReportSettings(Seed: 3, MaxSamples: 200, QualitySamples: 100, CkaSamples: 100);
        var run = RunFolder.Load(Path.Combine(f.Root, "run"));
        using (var source = ModelLoader.Open(run.Info.Model, run.CheckpointPath(2)))
        {
            var e = Assert.Throws<ProbeException>(() => Report.ForModel(source, run.Info.Model, null, data, "digits", settings, busy));
            Assert.Contains("not a Probe report folder", e.Message);
            Assert.Throws<ProbeException>(() => Report.ForRuns([new ReportRun("run", run)], data, "digits", settings, busy));
        }
        Assert.True(File.Exists(Path.Combine(busy, "keep.txt")));
        // ReportFolder itself refuses at Write (what Report.* check first, before any work).
        using (var folder = new ReportFolder(busy))
            Assert.Throws<ProbeException>(() => folder.Write());
        Assert.True(File.Exists(Path.Combine(busy, "keep.txt")));
        Assert.Empty(Directory.EnumerateDirectories(f.Root, ".busy-*"));
        // Told to, it replaces the folder.
        using (var source = ModelLoader.Open(run.Info.Model, run.CheckpointPath(2)))
            Report.ForModel(source, run.Info.Model, null, data, "digits", settings with { ReplaceAnyFolder = true }, busy);
        Assert.False(File.Exists(Path.Combine(busy, "keep.txt")));
        Assert.True(File.Exists(Path.Combine(busy, "report.json")));
    }

    [Fact]
    public void Same_inputs_and_seed_give_byte_identical_report_json()
    {
        Assert.Equal(File.ReadAllBytes(Path.Combine(f.A, "report.json")), File.ReadAllBytes(Path.Combine(f.B, "report.json")));
        // Wall-clock times live in timings.json only.
        Assert.DoesNotContain("seconds", File.ReadAllText(Path.Combine(f.A, "report.json")));
        Assert.Contains("\"seconds\"", File.ReadAllText(Path.Combine(f.A, "timings.json")));
    }

    [Fact]
    public void Every_report_validates_against_the_schema()
    {
        var validator = new JsonSchemaSubset(Schema());
        foreach (var dir in new[] { f.A, f.ModelReport })
        {
            var errors = validator.Validate(Load(dir));
            Assert.True(errors.Count == 0, string.Join("\n", errors.Take(20)));
        }
    }

    [Fact]
    public void The_validator_rejects_what_the_schema_forbids()
    {
        var validator = new JsonSchemaSubset(Schema());
        var good = File.ReadAllText(Path.Combine(f.A, "report.json"));
        foreach (var (bad, why) in new[]
        {
            (good.Replace("\"schema_version\": 1", "\"schema_version\": \"1\""), "schema_version as a string"),
            (good.Replace("\"dead_fraction\"", "\"deadFraction\""), "a camelCase key"),
            (good.Replace("\"how_to_read\"", "\"how to read\""), "a key with spaces"),
            (good.Replace("\"width_px\": ", "\"width_px\": -"), "a negative width"),
        })
        {
            Assert.NotEqual(good, bad);
            using var d = JsonDocument.Parse(bad);
            Assert.True(validator.Validate(d.RootElement).Count > 0, why);
        }
    }

    [Fact]
    public void Numbers_are_json_numbers_and_keys_snake_case()
    {
        var strings = new List<string>();
        void Walk(JsonElement e, string path)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject())
                    {
                        Assert.Matches("^[a-z0-9]+(_[a-z0-9]+)*$", p.Name);
                        Walk(p.Value, path + "." + p.Name);
                    }
                    break;
                case JsonValueKind.Array:
                    foreach (var x in e.EnumerateArray()) Walk(x, path + "[]");
                    break;
                case JsonValueKind.String:
                    if (double.TryParse(e.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out _)) strings.Add(path + " = " + e.GetString());
                    break;
            }
        }
        var root = Load(f.A);
        Walk(root, "$");
        Assert.True(strings.Count == 0, "numbers stored as strings: " + string.Join(", ", strings.Take(10)));
        Assert.Equal(ReportFolder.ProbeVersion, root.GetProperty("probe_version").GetString());
        // The table cells of the training section are numbers.
        var training = root.GetProperty("sections").EnumerateArray().First(s => s.GetProperty("id").GetString() == "training");
        Assert.Equal(JsonValueKind.Number, training.GetProperty("tables")[0].GetProperty("rows")[0][1].ValueKind);
    }

    [Fact]
    public void The_model_report_leaves_out_what_needs_checkpoints_and_says_why()
    {
        var sections = Load(f.ModelReport).GetProperty("sections").EnumerateArray().ToDictionary(s => s.GetProperty("id").GetString()!);
        Assert.Contains("checkpoints", sections["training"].GetProperty("left_out").GetString());
        Assert.Contains("checkpoints", sections["layer-evolution"].GetProperty("left_out").GetString());
        Assert.Equal(JsonValueKind.Null, sections["dead-units"].GetProperty("left_out").ValueKind);
        Assert.Equal(0, sections["layer-evolution"].GetProperty("figures").GetArrayLength());
    }

    [Fact]
    public void The_summary_gives_findings_with_numbers_and_provenance_has_hashes()
    {
        var root = Load(f.A);
        var summary = root.GetProperty("summary").EnumerateArray().Select(s => s.GetString()!).ToList();
        Assert.Contains(summary, s => Regex.IsMatch(s, @"Linear-probe accuracy peaks at \w+ \(\d+\.\d%"));
        Assert.Contains(summary, s => s.StartsWith("Most similar layers:", StringComparison.Ordinal));
        var prov = root.GetProperty("provenance");
        Assert.Equal(3, prov.GetProperty("seed").GetInt32());
        // The content hash is SHA-256 of the samples' float32 bytes then the int32 labels: compute it independently.
        var d = DataSource.Parse("digits").Load();
        var bytes = new List<byte>();
        foreach (var v in d.Features.Data) bytes.AddRange(BitConverter.GetBytes(v));
        foreach (var l in d.Labels!) bytes.AddRange(BitConverter.GetBytes(l));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes.ToArray())), prov.GetProperty("data").GetProperty("content_sha256").GetString());
    }

    [Fact]
    public void Every_src_and_href_in_the_page_resolves()
    {
        foreach (var dir in new[] { f.A, f.ModelReport })
        {
            var html = File.ReadAllText(Path.Combine(dir, "index.html"));
            var refs = Regex.Matches(html, "(?:src|href)=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
            Assert.NotEmpty(refs);
            foreach (var r in refs)
            {
                if (r.StartsWith('#')) Assert.Contains($"id=\"{r[1..]}\"", html);
                else Assert.True(File.Exists(Path.Combine(dir, r)), r);
            }
        }
        // Nothing is left beside the report folders (no staging folders).
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(f.Root), p => Path.GetFileName(p).StartsWith('.'));
    }

    [SkippableChromium]
    public void The_page_reads_well_in_headless_chromium_at_1200_px()
    {
        foreach (var dir in new[] { f.A, f.ModelReport })
        {
            var m = ChromiumCheck.Measure(Path.Combine(dir, "index.html"), 1200, 900);
            Assert.True(m.GetProperty("scroll_width").GetInt32() <= m.GetProperty("client_width").GetInt32(), "horizontal scroll: " + m);
            Assert.True(m.GetProperty("images").GetInt32() >= 3, m.ToString());
            Assert.Equal(0, m.GetProperty("broken").GetArrayLength());
            Assert.Equal(0, m.GetProperty("wider_than_drawn").GetArrayLength());
            Assert.True(m.GetProperty("summary_bottom").GetDouble() <= m.GetProperty("inner_height").GetDouble(), "summary not in the first screen: " + m);
        }
    }
}

/// <summary>A fact that runs only where Debian's chromium is installed (.ci/run installs it).</summary>
public sealed class SkippableChromiumAttribute : FactAttribute
{
    public SkippableChromiumAttribute()
    {
        if (!File.Exists(ChromiumCheck.Binary)) Skip = $"{ChromiumCheck.Binary} is not installed (apt-get install chromium).";
    }
}

/// <summary>
/// Renders a page in headless Chromium and returns what a script measured after load: the page is copied beside itself
/// with a script that writes the measurements into the DOM, and Chromium's --dump-dom prints it.
/// </summary>
internal static class ChromiumCheck
{
    public const string Binary = "/usr/bin/chromium";

    private const string Script = """
<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.getAttribute('src'); });
  var wider = imgs.filter(function (i) { return i.width > Number(i.getAttribute('width')) + 1; }).map(function (i) { return i.getAttribute('src'); });
  var s = document.getElementById('summary').getBoundingClientRect();
  var r = { scroll_width: document.documentElement.scrollWidth, client_width: document.documentElement.clientWidth,
            inner_height: window.innerHeight, images: imgs.length, broken: broken, wider_than_drawn: wider, summary_top: s.top, summary_bottom: s.bottom };
  var pre = document.createElement('pre'); pre.id = 'probe-check'; pre.textContent = 'PROBE' + '-CHECK' + JSON.stringify(r) + 'END' + '-CHECK';
  document.body.appendChild(pre);
});
</script>
""";

    public static JsonElement Measure(string index, int width, int height)
    {
        string check = Path.Combine(Path.GetDirectoryName(index)!, ".check-" + Guid.NewGuid().ToString("N") + ".html");
        string profile = Path.Combine(Path.GetTempPath(), "probe-chromium-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(check, File.ReadAllText(index).Replace("</body>", Script + "</body>"));
        try
        {
            var psi = new ProcessStartInfo(Binary)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                         "--user-data-dir=" + profile, $"--window-size={width},{height}", "--virtual-time-budget=10000", "--dump-dom", new Uri(check).AbsoluteUri })
                psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            string dom = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException("chromium did not finish in 120 s"); }
            var m = Regex.Match(dom, "PROBE-CHECK(.*?)END-CHECK", RegexOptions.Singleline);
            Assert.True(m.Success, "the check script did not run; chromium said: " + err.Result);
            using var d = JsonDocument.Parse(System.Net.WebUtility.HtmlDecode(m.Groups[1].Value));
            return d.RootElement.Clone();
        }
        finally
        {
            File.Delete(check);
            try { Directory.Delete(profile, true); } catch (IOException) { }
        }
    }
}
