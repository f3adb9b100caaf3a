using System.Text.Json.Nodes;
using Xunit;

namespace Probe.Tests.Docs;

/// <summary>
/// Every notebook in notebooks/ runs top to bottom in a real .NET Interactive kernel (the pinned local tool), loading
/// Probe as a user would (from the nupkg/ folder the build fills), and what it claims is there and right. The three
/// run one after another (one class): each starts its own kernel; 10-20 s each on 2 cores (2026-11-30).
/// </summary>
public class NotebookTests
{
    static string Notebook(string name) => Path.Combine(NotebookRunner.RepoRoot(), "notebooks", name);

    static int Images(NotebookRun run) => run.Cells.Sum(c => c.Text("image/png").Count(png => Convert.FromBase64String(png)[..4].SequenceEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' })));

    [Fact]
    public void EveryNotebookHasATest()
    {
        var names = Directory.GetFiles(Path.Combine(NotebookRunner.RepoRoot(), "notebooks"), "*.ipynb").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(new[] { "01-dead-relus.ipynb", "02-cka-across-seeds.ipynb", "03-layer-evolution.ipynb" }, names);
    }

    [Fact]
    public void NotebooksReferenceProbeAsAPackageOnly()
    {
        foreach (var path in Directory.GetFiles(Path.Combine(NotebookRunner.RepoRoot(), "notebooks"), "*.ipynb"))
        {
            string code = string.Concat(JsonNode.Parse(File.ReadAllText(path))!["cells"]!.AsArray()
                .Where(c => (string?)c!["cell_type"] == "code").SelectMany(c => c!["source"]!.AsArray().Select(l => (string)l!)));
            // the version the build wrote beside the packages, referenced like any NuGet package
            Assert.Contains("\"Probe.Reporting.version\"", code);
            Assert.Contains("#r \\\"nuget: Probe.Reporting, {probeVersion}\\\"", code);
            Assert.DoesNotContain("bin/Debug", code);
            Assert.DoesNotContain(".dll\"", code);
        }
    }

    /// <summary>
    /// The committed notebooks carry no path of the machine that ran them (the kernel echoes its restore source and
    /// the NuGet folder; <see cref="NotebookRunner.Scrub"/> rewrites them) and no oversized figure (shown copies are
    /// drawn at screen resolution; files for print are written at 300 dpi but not embedded).
    /// </summary>
    [Fact]
    public void CommittedNotebooksHaveNoMachinePathsAndSmallFigures()
    {
        foreach (var path in Directory.GetFiles(Path.Combine(NotebookRunner.RepoRoot(), "notebooks"), "*.ipynb"))
        {
            var outputs = JsonNode.Parse(File.ReadAllText(path))!["cells"]!.AsArray()
                .SelectMany(c => c!["outputs"]?.AsArray() ?? []).Select(o => o!).ToList();
            Assert.NotEmpty(outputs);
            string text = string.Concat(outputs.Select(o => o.ToJsonString()));
            foreach (var (machinePath, _) in NotebookRunner.MachinePaths())
                Assert.False(text.Contains(machinePath, StringComparison.Ordinal), $"{Path.GetFileName(path)} outputs contain this machine's path {machinePath}");
            foreach (var png in outputs.Select(o => (string?)o["data"]?["image/png"]).OfType<string>())
                Assert.True(png.Length <= 400_000, $"{Path.GetFileName(path)} embeds a {png.Length / 1000} kB (base64) PNG; show a screen-resolution copy");
        }
    }

    [Fact]
    public async Task DeadReluNotebookFindsMoreDeadUnitsInTheHarshRun()
    {
        await using var run = await NotebookRunner.RunAsync(Notebook("01-dead-relus.ipynb"));
        Assert.Equal(2, Images(run));
        // On a host whose libstdc++ lacks GLIBCXX_3.4.32 (Debian 12) Probe loaded a patched copy; elsewhere nothing was needed.
        string status = await run.PrintAsync("Console.WriteLine(Probe.Native.TorchSharpNative.Status);");
        Assert.True(status.StartsWith("loaded ") || status.StartsWith("nothing to do"), status);
        Assert.Equal("True", await run.PrintAsync(
            "Console.WriteLine(harshReport.Layers.Sum(l => l.DeadUnits.Length) > calmReport.Layers.Sum(l => l.DeadUnits.Length));"));
    }

    [Fact]
    public async Task CkaNotebookFindsCorrespondingLayersMoreAlikeThanOthers()
    {
        await using var run = await NotebookRunner.RunAsync(Notebook("02-cka-across-seeds.ipynb"));
        Assert.Equal(1, Images(run));
        Assert.Equal("4", await run.PrintAsync("Console.WriteLine(names.Count);"));
        var parts = (await run.PrintAsync("Console.WriteLine(FormattableString.Invariant($\"{diagonalMean} {offDiagonalMean}\"));"))
            .Split(' ').Select(s => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(parts[0] > parts[1], $"diagonal mean {parts[0]:F3} should exceed the off-diagonal mean {parts[1]:F3}");
        Assert.InRange(parts[0], 0, 1);
    }

    [Fact]
    public async Task EvolutionNotebookShowsTheGridAndWritesPngAndPdf()
    {
        await using var run = await NotebookRunner.RunAsync(Notebook("03-layer-evolution.ipynb"));
        Assert.Equal(1, Images(run));
        Assert.Equal("5", await run.PrintAsync("Console.WriteLine(epochs.Length);"));
        Assert.Equal("137 %PDF", await run.PrintAsync("Console.WriteLine(File.ReadAllBytes(png)[0] + \" \" + System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(pdf), 0, 4));"));
        // The file is for print (300 dpi at page width); the notebook shows a copy that fits a laptop screen: at most
        // 96 dpi and 800 pixels tall (a 96 dpi copy of the 10.5 in tall grid was 1011 pixels, a 410 kB base64 PNG).
        var header = Convert.FromBase64String(await run.PrintAsync("Console.WriteLine(Convert.ToBase64String(File.ReadAllBytes(png)[..24]));"));
        Assert.Equal(2100, PngSize(header).Width);
        var shown = run.Cells.SelectMany(c => c.Text("image/png")).Select(Convert.FromBase64String).Single();
        var (w, h) = PngSize(shown);
        Assert.True(w <= 672 && h <= 800, $"the notebook shows a {w} x {h} PNG; show a screen-resolution copy (at most 96 dpi and 800 pixels tall)");
    }

    static (int Width, int Height) PngSize(byte[] png) =>
        ((png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19], (png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23]);
}
