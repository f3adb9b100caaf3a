using Xunit;

namespace Probe.Tests.Docs;

/// <summary>
/// Every notebook in notebooks/ runs top to bottom in a real .NET Interactive kernel (the pinned local tool), loading
/// Probe as a user would (from the nupkg/ folder the build fills), and what it claims is there and right. The three
/// run one after another (one class): each starts its own kernel; about 1-2 minutes each on 2 cores.
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
            string text = File.ReadAllText(path);
            Assert.Contains("#r \\\"nuget: Probe.Reporting, 0.1.0\\\"", text);
            Assert.DoesNotContain("bin/Debug", text);
            Assert.DoesNotContain(".dll\\\"", text);
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
    }
}
