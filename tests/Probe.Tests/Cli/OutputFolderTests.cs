using Probe.Cli;
using Probe.Data;
using Probe.Reporting;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// Folders the CLI replaces as a whole (a capture, a report): never a folder that holds something else unless --force,
/// no file of an earlier output left beside the new one, and the report's staging folder known to the Ctrl-C watchdog.
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class OutputFolderTests
{
    static readonly string[] Model = ["--model", "mlp:64-128-64-32-10:relu", "--weights", Cli.Fixture("digits_mlp.safetensors"), "--data", "digits"];

    [Fact]
    public void Dead_refuses_to_replace_a_folder_that_is_not_a_report_and_replaces_it_with_force()
    {
        string dir = Cli.TempDir("dead-notreport");
        try
        {
            File.WriteAllText(Path.Combine(dir, "thesis.tex"), "keep me");
            Directory.CreateDirectory(Path.Combine(dir, "sub"));
            var (code, output, err) = Cli.Run([.. "dead".Split(' '), .. Model, "--max-samples", "200", "--out", dir]);
            Assert.Equal(2, code);
            Assert.Contains("not a Probe report folder", err);
            Assert.Contains("--force", err);
            Assert.Equal("", output); // refused before the study ran
            Assert.True(File.Exists(Path.Combine(dir, "thesis.tex")));
            Assert.True(Directory.Exists(Path.Combine(dir, "sub")));

            (code, _, err) = Cli.Run([.. "dead".Split(' '), .. Model, "--max-samples", "200", "--out", dir, "--force", "--quiet"]);
            Assert.True(code == 0, err);
            Assert.False(File.Exists(Path.Combine(dir, "thesis.tex")));
            Assert.True(File.Exists(Path.Combine(dir, "report.json")));
            // An earlier report is replaced without --force.
            (code, _, err) = Cli.Run([.. "dead".Split(' '), .. Model, "--max-samples", "100", "--out", dir, "--quiet"]);
            Assert.True(code == 0, err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_capture_replaces_its_whole_folder_so_no_earlier_layer_file_lingers()
    {
        string dir = Cli.TempDir("capture-replace");
        try
        {
            var (code, _, err) = Cli.Run([.. "capture".Split(' '), .. Model, "--out", dir, "--quiet"]);
            Assert.True(code == 0, err);
            Assert.True(File.Exists(Path.Combine(dir, "fc1.npy")));
            (code, _, err) = Cli.Run([.. "capture".Split(' '), .. Model, "--layers", "fc3,fc4", "--max-samples", "50", "--out", dir, "--quiet"]);
            Assert.True(code == 0, err);
            var names = Directory.EnumerateFileSystemEntries(dir).Select(e => Path.GetFileName(e)).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(new[] { "fc3.npy", "fc4.npy", "labels.npy", "layers.json", "rows.npy" }, names);
            Assert.Equal(50, Npy.ReadMatrix(Path.Combine(dir, "fc3.npy")).Rows);
            Assert.Equal(50, Npy.ReadInt32(Path.Combine(dir, "labels.npy")).Length);
            // Nothing of the swap is left beside the folder.
            string parent = Path.GetDirectoryName(dir)!, name = Path.GetFileName(dir);
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(parent), e => Path.GetFileName(e).StartsWith("." + name, StringComparison.Ordinal));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Capture_refuses_to_replace_an_earlier_capture_that_holds_files_of_its_own()
    {
        string dir = Cli.TempDir("capture-extra");
        try
        {
            var (code, _, err) = Cli.Run([.. "capture".Split(' '), .. Model, "--layers", "fc4", "--out", dir, "--quiet"]);
            Assert.True(code == 0, err);
            // The user saves an input beside the capture, then captures again into the folder.
            Npy.Write(Path.Combine(dir, "x.npy"), Npy.ReadMatrix(Path.Combine(dir, "fc4.npy")));
            (code, _, err) = Cli.Run([.. "capture".Split(' '), .. Model, "--layers", "fc3", "--out", dir]);
            Assert.Equal(2, code);
            Assert.Contains("also x.npy, which a capture did not write", err);
            Assert.True(File.Exists(Path.Combine(dir, "x.npy")));
            Assert.True(File.Exists(Path.Combine(dir, "fc4.npy")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Capture_refuses_a_folder_that_is_not_a_capture_unless_forced()
    {
        string dir = Cli.TempDir("capture-notcapture");
        try
        {
            File.WriteAllText(Path.Combine(dir, "notes.txt"), "keep me");
            var (code, _, err) = Cli.Run([.. "capture".Split(' '), .. Model, "--out", dir]);
            Assert.Equal(2, code);
            Assert.Contains("not a Probe capture folder", err);
            Assert.True(File.Exists(Path.Combine(dir, "notes.txt")));
            (code, _, err) = Cli.Run([.. "capture".Split(' '), .. Model, "--layers", "fc4", "--out", dir, "--force", "--quiet"]);
            Assert.True(code == 0, err);
            Assert.False(File.Exists(Path.Combine(dir, "notes.txt")));
            Assert.True(File.Exists(Path.Combine(dir, "fc4.npy")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task The_report_commands_staging_folder_is_registered_for_the_ctrl_c_watchdog()
    {
        // The library writes the report into ReportFolder's staging folder; if Ctrl-C's forced exit comes before the
        // library cleans up, only the paths registered with ProbeCli.Pending are removed.
        string dir = Cli.TempDir("report-pending");
        try
        {
            string outDir = Path.Combine(dir, "OUT");
            string staging = ReportFolder.StagingDirectory(outDir);
            using (var probeFolder = new ReportFolder(outDir)) Assert.Equal(staging, probeFolder.WorkingDirectory);
            using var cts = new CancellationTokenSource();
            bool seen = false;
            // Cancelled the moment the CLI registers the staging folder (a poll could miss it on a loaded machine).
            void OnPending(string path) { if (path == staging) { seen = true; cts.Cancel(); } }
            ProbeCli.PendingRegistered += OnPending;
            var err = new StringWriter();
            int code;
            try { code = await Task.Run(() => ProbeCli.Run([.. "report".Split(' '), .. Model, "--max-samples", "300", "--out", outDir, "--quiet"], new StringWriter(), err, cts.Token)); }
            finally { ProbeCli.PendingRegistered -= OnPending; }
            Assert.True(seen, "the report's staging folder was never registered as a pending output; stderr: " + err);
            Assert.True(code == ExitCodes.Cancelled, $"exit {code}, stderr: {err}");
            Assert.False(Directory.Exists(staging));
            Assert.DoesNotContain(staging, ProbeCli.PendingSnapshot());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Images_left_out_by_on_error_skip_are_named_on_stderr_even_with_quiet()
    {
        string dir = Cli.TempDir("capture-skip");
        try
        {
            string images = Path.Combine(AppContext.BaseDirectory, "fixtures", "images", "corrupt");
            var (code, _, err) = Cli.Run("capture", "--model", "cnn:3x12x12:2", "--random-weights", "--data", $"images:{images}?on-error=skip", "--out", dir, "--quiet");
            Assert.True(code == 0, err);
            Assert.Contains("1 unreadable image(s) left out (on-error=skip), 2 used", err);
            Assert.Contains("bad.png", err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_captures_class_names_reach_a_projection_of_its_files()
    {
        string dir = Cli.TempDir("capture-classes");
        try
        {
            string images = Path.Combine(AppContext.BaseDirectory, "fixtures", "images", "tree");
            string cap = Path.Combine(dir, "cap");
            var (code, _, err) = Cli.Run("capture", "--model", "cnn:3x18x18:3", "--random-weights", "--data", $"images:{images}?crop=18", "--out", cap, "--quiet");
            Assert.True(code == 0, err);
            using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(cap, "layers.json"))))
                Assert.Equal(["bird", "cat", "dog"], doc.RootElement.GetProperty("classes").EnumerateArray().Select(e => e.GetString()!).ToArray());
            string svg = Path.Combine(dir, "pca.svg");
            (code, _, err) = Cli.Run("project", "--method", "pca", "--acts", Path.Combine(cap, "fc1.npy"), "--labels", Path.Combine(cap, "labels.npy"), "--out", svg, "--quiet");
            Assert.True(code == 0, err);
            // The legend's text elements hold the class names (not "0", "1", "2").
            var legend = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(svg), @"<text[^>]*>\s*([^<]*?)\s*</text>").Select(m => m.Groups[1].Value).ToHashSet();
            Assert.Contains("dog", legend);
            Assert.Contains("bird", legend);
        }
        finally { Directory.Delete(dir, true); }
    }
}
