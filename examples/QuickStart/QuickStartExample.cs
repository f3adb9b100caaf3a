// The README's library example, verbatim between the markers; a test runs it and checks the README still shows it.
// <quickstart>
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Probe.Projection;
using Probe.Similarity;

public static class QuickStartExample
{
    public static void Run(string runDir, TextWriter log, int epochs = 5)
    {
        // Train the digits MLP, writing a checkpoint per epoch (and one before training) to runDir.
        var data = Datasets.Digits();
        var spec = ModelSpec.Parse("mlp:64-128-64-32-10:relu");
        var run = new Trainer("adam", Epochs: epochs, LearningRate: 1e-3, Seed: 0).Train(spec, data, "digits", runDir);

        // Capture every layer of the final checkpoint on 1,000 samples (the same 1,000 for any model and seed 0).
        using var model = run.BuildModel();
        var acts = new ActivationCapture().ToMemory(model, data, maxSamples: 1000, seed: 0);

        // Dead ReLUs per layer.
        foreach (var layer in new DeadUnitAnalyzer().Run(acts.Outputs).Layers)
            log.WriteLine($"{layer.Layer,-6} {layer.DeadUnits.Length,3} dead of {layer.Units,3} units, sparsity {layer.Sparsity:P0}");

        // Linear CKA between every pair of layers.
        var names = acts.LayerNames;
        var cka = new Cka().AllPairs(names, names.Select(n => acts[n]).ToList());
        log.WriteLine($"CKA(fc1, fc4) = {cka.Values[0][names.Count - 1]:F3}");

        // A 2-D PCA of the last hidden layer, ready to plot.
        var pca = new Pca(Components: 2).Fit(acts["relu3"]);
        var xy = pca.Transform(acts["relu3"]);
        log.WriteLine($"relu3: PCA keeps {pca.ExplainedVarianceRatio.Sum():P0} of the variance in {xy.Rows} x {xy.Cols}");
    }
}
// </quickstart>
