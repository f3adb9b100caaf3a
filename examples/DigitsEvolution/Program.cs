namespace Probe.Examples.DigitsEvolution;

internal static class Program
{
    static int Main(string[] args)
    {
        string outDir = args.Length > 0 ? args[0] : "digits-evolution";
        var r = DigitsEvolutionExample.Run(new DigitsSettings(), outDir, Console.Out);
        Console.WriteLine($"Wrote {r.InputVersusHiddenFigure}, {r.PcaGridFigure}, {r.TsneGridFigure}");
        return 0;
    }
}
