using Xunit;

namespace Probe.Tests.Docs;

/// <summary>Every notebook in notebooks/ runs cell by cell, and what it claims to produce is there and right.</summary>
public class NotebookTests
{
    static string Notebook(string name) => Path.Combine(NotebookRunner.RepoRoot(), "notebooks", name);

    [Fact]
    public void EveryNotebookHasATest()
    {
        var names = Directory.GetFiles(Path.Combine(NotebookRunner.RepoRoot(), "notebooks"), "*.ipynb").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(new[] { "01-dead-relus.ipynb", "02-cka-across-seeds.ipynb", "03-layer-evolution.ipynb" }, names);
    }

    [Fact]
    public async Task DeadReluNotebookFindsMoreDeadUnitsInTheHarshRun()
    {
        var state = await NotebookRunner.RunAsync(Notebook("01-dead-relus.ipynb"));
        var figures = (string[])state.ReturnValue;
        Assert.All(figures, f => Assert.True(new FileInfo(f).Length > 1000, f));
        var calm = (Probe.Analysis.DeadUnitReport)state.GetVariable("calmReport").Value;
        var harsh = (Probe.Analysis.DeadUnitReport)state.GetVariable("harshReport").Value;
        Assert.True(harsh.Layers.Sum(l => l.DeadUnits.Length) > calm.Layers.Sum(l => l.DeadUnits.Length),
            "Adam at a learning rate of 0.02 should kill more units than at 1e-3");
    }

    [Fact]
    public async Task CkaNotebookFindsCorrespondingLayersMoreAlikeThanOthers()
    {
        var state = await NotebookRunner.RunAsync(Notebook("02-cka-across-seeds.ipynb"));
        int names = ((IReadOnlyList<string>)state.GetVariable("names").Value).Count;
        Assert.Equal(4, names);
        var (diagonal, offDiagonal) = ((double, double))state.ReturnValue;
        Assert.True(diagonal > offDiagonal, $"diagonal mean {diagonal:F3} should exceed the off-diagonal mean {offDiagonal:F3}");
        Assert.InRange(diagonal, 0, 1);
        Assert.True(File.Exists((string)state.GetVariable("path").Value));
    }

    [Fact]
    public async Task EvolutionNotebookWritesTheGridAsPngAndPdf()
    {
        var state = await NotebookRunner.RunAsync(Notebook("03-layer-evolution.ipynb"));
        var files = (string[])state.ReturnValue;
        Assert.EndsWith(".png", files[0]);
        Assert.Equal(0x89, File.ReadAllBytes(files[0])[0]);
        Assert.StartsWith("%PDF", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(files[1]), 0, 4));
        Assert.Equal(5, ((Array)state.GetVariable("epochs").Value).Length);
    }
}
