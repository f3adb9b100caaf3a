using System.Diagnostics;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// The behaving CLI: bad values exit 2 (parsed in memory), train refuses an existing run folder, and Ctrl-C (SIGINT to
/// a child process running the built CLI) stops a report leaving no half-written output.
/// </summary>
public class ReportCommandTests
{
    [Theory]
    [InlineData("report", "--run", "R", "--out", "O", "--batch-size", "0")]
    [InlineData("report", "--run", "R", "--out", "O", "--max-samples", "-3")]
    [InlineData("report", "--run", "R", "--out", "O", "--seed", "x")]
    [InlineData("report", "--out", "O")]
    [InlineData("report", "--run", "R", "--model", "mlp:4-2:relu", "--out", "O")]
    [InlineData("report", "--model", "mlp:4-2:relu", "--data", "digits", "--out", "O")]
    [InlineData("report", "--run", "R")]
    [InlineData("train", "--model", "mlp:64-10:relu", "--data", "digits", "--epochs", "-1", "--out", "O")]
    [InlineData("train", "--model", "mlp:64-10:relu", "--data", "digits", "--epochs", "1", "--lr", "0", "--out", "O")]
    [InlineData("train", "--model", "mlp:64-10:relu", "--data", "digits", "--epochs", "1", "--batch-size", "0", "--out", "O")]
    [InlineData("train", "--model", "mlp:64-10:relu", "--data", "digits", "--epochs", "1", "--test-fraction", "1.5", "--out", "O")]
    [InlineData("train", "--model", "mlp:64-10:relu", "--data", "digits", "--epochs", "1", "--optimizer", "rmsprop", "--out", "O")]
    public void Bad_values_exit_2_with_a_usage_line_that_says_probe(params string[] args)
    {
        var (code, _, err) = Cli.Run(args);
        Assert.True(code == 2, $"exit {code}: {err}");
        Assert.Contains($"Usage: run 'probe {args[0]} --help'", err);
    }

    [Fact]
    public void Help_names_the_tool_probe()
    {
        var (code, output, _) = Cli.Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("probe [command] [options]", output);
    }

    [Fact]
    public void Train_refuses_an_existing_run_unless_forced()
    {
        string dir = Cli.TempDir("train-exists");
        try
        {
            string run = Path.Combine(dir, "RUN");
            var (code, output, err) = Cli.Run("train", "--model", "mlp:64-8-10:relu", "--data", "digits", "--epochs", "1", "--out", run);
            Assert.True(code == 0, err);
            Assert.Contains("epoch   1", output);
            byte[] before = File.ReadAllBytes(Path.Combine(run, "run.json"));
            (code, _, err) = Cli.Run("train", "--model", "mlp:64-8-10:relu", "--data", "digits", "--epochs", "2", "--out", run);
            Assert.Equal(2, code);
            Assert.Contains("--force", err);
            Assert.Equal(before, File.ReadAllBytes(Path.Combine(run, "run.json")));
            (code, _, err) = Cli.Run("train", "--model", "mlp:64-8-10:relu", "--data", "digits", "--epochs", "2", "--out", run, "--force");
            Assert.True(code == 0, err);
            Assert.Equal(3, Probe.Models.RunFolder.Load(run).Checkpoints.Count);
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(dir), p => Path.GetFileName(p).StartsWith('.'));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// A model with an all-dead layer (fixtures/dead/all_dead.pt: every fc1 bias -100, PyTorch finds relu1's 8 units
    /// dead) is what the dead-unit section is for, but its report failed (exit 1) and wrote nothing: CKA of the all-zero
    /// relu1 is undefined. The report is now written, with the dead units, and the similarity section left out with the reason.
    /// </summary>
    [Fact]
    public void Report_of_a_model_with_an_all_dead_layer_is_written_without_its_similarity()
    {
        var reference = System.Text.Json.JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("dead", "all_dead.json"))).RootElement;
        int dead = reference.GetProperty("relu1_dead").GetArrayLength();
        Assert.Equal(8, dead);
        var root = ReportOfTheDeadFixture("all_dead.pt");
        Assert.Contains(root.GetProperty("summary").EnumerateArray(), s => s.GetString()!.StartsWith($"relu1: {dead} of 8 units dead", StringComparison.Ordinal));
        var similarity = root.GetProperty("sections").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "layer-similarity");
        // relu1 is all 0, fc2 and relu2 after it their biases, fc3 too: only the input varies, so nothing is left to compare.
        Assert.Contains("'relu1', 'relu2', 'fc3' are constant over the samples", similarity.GetProperty("left_out").GetString());
    }

    // probe report of mlp:20-8-6-3:relu with weights from fixtures/dead on its x.npy and y.npy: report.json's root.
    static System.Text.Json.JsonElement ReportOfTheDeadFixture(string weights)
    {
        string dir = Cli.TempDir("report-dead");
        try
        {
            var (code, _, err) = Cli.Run("report", "--model", "mlp:20-8-6-3:relu", "--weights", ReferenceFixtures.Path("dead", weights),
                "--data", $"npy:{ReferenceFixtures.Path("dead", "x.npy")},{ReferenceFixtures.Path("dead", "y.npy")}", "--out", dir, "--force", "--quiet");
            Assert.True(code == 0, err);
            return System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json"))).RootElement.Clone();
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// A model whose later layer is all dead (fixtures/dead/late_dead.pt: every fc2 bias -100, PyTorch finds relu2's 6
    /// units dead) keeps the similarity of the layers that vary: relu2 and fc3 (its bias alone) are constant and left out
    /// with the reason, and input against relu1 is NumPy's linear CKA (late_dead.json). The whole section was left out.
    /// </summary>
    [Fact]
    public void Report_of_a_model_with_a_late_all_dead_layer_compares_the_layers_that_vary()
    {
        var reference = System.Text.Json.JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("dead", "late_dead.json"))).RootElement;
        Assert.Equal(6, reference.GetProperty("relu2_dead").GetArrayLength());
        var root = ReportOfTheDeadFixture("late_dead.pt");
        var similarity = root.GetProperty("sections").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "layer-similarity");
        Assert.Equal(System.Text.Json.JsonValueKind.Null, similarity.GetProperty("left_out").ValueKind);
        var cka = similarity.GetProperty("data").GetProperty("cka");
        Assert.Equal(["relu2", "fc3"], cka.GetProperty("constant_layers").EnumerateArray().Select(e => e.GetString()));
        var within = cka.GetProperty("within");
        Assert.Equal(["input", "relu1"], within.GetProperty("rows").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(reference.GetProperty("cka_input_relu1").GetDouble(), within.GetProperty("values")[0][1].GetDouble(), 1e-6);
        Assert.Contains(similarity.GetProperty("text").EnumerateArray(), t => t.GetString()!.StartsWith("Left out: relu2, fc3 are constant over the 64 samples", StringComparison.Ordinal));
        // One pair left: its value, not "most similar ... least similar" of the same two layers.
        Assert.Contains(root.GetProperty("summary").EnumerateArray(), s => s.GetString() == $"CKA of input and relu1: {reference.GetProperty("cka_input_relu1").GetDouble().ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)}.");
    }

    /// <summary>
    /// A class of a single sample leaves the separability undefined, and the whole report failed (exit 1, nothing written,
    /// the dead units lost with it). The quality section is left out with the reason and the rest is written: the same
    /// dead units as PyTorch finds (late_dead.json), labels with class 2 on row 0 alone.
    /// </summary>
    [Fact]
    public void Report_with_a_class_of_one_sample_leaves_out_only_the_quality_section()
    {
        var reference = System.Text.Json.JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("dead", "late_dead.json"))).RootElement;
        string dir = Cli.TempDir("report-single-class");
        try
        {
            var y = Probe.Data.Npy.ReadInt32(ReferenceFixtures.Path("dead", "y.npy")).Select((c, i) => i == 0 ? 2 : c == 2 ? 1 : c).ToArray();
            string labels = Path.Combine(dir, "y.npy"), outDir = Path.Combine(dir, "report");
            Probe.Data.Npy.Write(labels, y);
            var (code, _, err) = Cli.Run("report", "--model", "mlp:20-8-6-3:relu", "--weights", ReferenceFixtures.Path("dead", "late_dead.pt"),
                "--data", $"npy:{ReferenceFixtures.Path("dead", "x.npy")},{labels}", "--out", outDir, "--quiet");
            Assert.True(code == 0, err);
            var root = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json"))).RootElement;
            var sections = root.GetProperty("sections").EnumerateArray().ToDictionary(s => s.GetProperty("id").GetString()!);
            Assert.Contains("class 2 has a single sample", sections["representation-quality"].GetProperty("left_out").GetString());
            Assert.Equal(System.Text.Json.JsonValueKind.Null, sections["dead-units"].GetProperty("left_out").ValueKind);
            Assert.Contains(root.GetProperty("summary").EnumerateArray(), s => s.GetString()!.StartsWith($"relu2: {reference.GetProperty("relu2_dead").GetArrayLength()} of 6 units dead", StringComparison.Ordinal));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Report_refuses_to_replace_a_folder_that_is_not_a_report()
    {
        string dir = Cli.TempDir("report-notreport");
        try
        {
            File.WriteAllText(Path.Combine(dir, "thesis.tex"), "keep me");
            string run = Path.Combine(Path.GetTempPath(), $"probe-report-run-{Guid.NewGuid():N}");
            Assert.Equal(0, Cli.Run("train", "--model", "mlp:64-8-10:relu", "--data", "digits", "--epochs", "0", "--out", run, "--quiet").Code);
            var (code, _, err) = Cli.Run("report", "--run", run, "--out", dir);
            Directory.Delete(run, true);
            Assert.Equal(2, code);
            Assert.Contains("--force", err);
            Assert.True(File.Exists(Path.Combine(dir, "thesis.tex")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task Ctrl_c_stops_a_report_and_leaves_no_half_written_output()
    {
        string dir = Cli.TempDir("report-sigint");
        try
        {
            string run = Path.Combine(dir, "RUN");
            var (code, _, err) = Cli.Run("train", "--model", "mlp:64-32-16-10:relu", "--data", "digits", "--epochs", "3", "--out", run);
            Assert.True(code == 0, err);
            string outDir = Path.Combine(dir, "OUT");
            using var p = CliProcess.Start("report", "--run", run, "--data", "digits", "--out", outDir);
            // Wait until the report is under way (its staging folder exists), then interrupt it.
            var clock = Stopwatch.StartNew();
            while (!p.HasExited && !Directory.EnumerateDirectories(dir, ".OUT.partial-*").Any() && clock.Elapsed.TotalSeconds < 120) Thread.Sleep(50);
            Thread.Sleep(1500);
            Assert.False(p.HasExited, "the report finished before it could be interrupted: " + (p.HasExited ? await p.Err : ""));
            var stopped = Stopwatch.StartNew();
            Assert.True(p.InterruptAndWait(), "the CLI did not stop after SIGINT");
            string errText = await p.Err;
            await p.Out;
            Assert.Equal(130, p.ExitCode);
            Assert.True(stopped.Elapsed.TotalSeconds < 10, $"stopping took {stopped.Elapsed.TotalSeconds:0.0} s");
            // Neither index.html nor report.json, and no staging folder left behind.
            Assert.False(Directory.Exists(outDir), "the report folder exists after Ctrl-C");
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(dir), e => Path.GetFileName(e).StartsWith('.'));
            Assert.DoesNotContain("   at ", errText);
        }
        finally { Directory.Delete(dir, true); }
    }
}
