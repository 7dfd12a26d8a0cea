/**
 * Writes docs/examples/links.jsonl: 200 causal links of a (fictional) municipal
 * development plan, generated from a fixed seed so the file is reproducible, with a
 * few links pathological by their own size and a few malformed ones.
 * Run: npm run docs:examples
 */
import { writeFileSync } from 'node:fs';
import { createRandom } from '../src/inference/mcmc.js';

const random = createRandom(2024);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

const PROGRAMS = [
  ['alimentacion-escolar', 'Programa de alimentación escolar', 'tecnico'],
  ['vias-terciarias', 'Pavimentación de vías terciarias', 'financiero'],
  ['acueducto-rural', 'Ampliación de cobertura de acueducto rural', 'tecnico'],
  ['catastro', 'Actualización del catastro multipropósito', 'administrativo'],
  ['presupuesto-participativo', 'Presupuesto participativo por comunas', 'politico'],
  ['vivienda-vis', 'Plan de vivienda de interés social', 'financiero'],
  ['formalizacion', 'Programa de formalización del empleo', 'administrativo'],
  ['gestion-tributaria', 'Modernización de la gestión tributaria', 'administrativo'],
  ['seguridad', 'Estrategia de seguridad y convivencia ciudadana', 'politico'],
  ['bibliotecas', 'Red de bibliotecas públicas', 'mixto'],
  ['reforestacion', 'Reforestación de cuencas abastecedoras', 'tecnico'],
  ['ventanilla-unica', 'Ventanilla única de trámites', 'administrativo'],
] as const;

const OUTCOMES = [
  ['desercion', 'Reducción de la deserción escolar'],
  ['tiempo-viaje', 'Menor tiempo de viaje en zona rural'],
  ['eda', 'Menos enfermedad diarreica aguda en menores de cinco años'],
  ['recaudo', 'Aumento del recaudo del impuesto predial'],
  ['participacion', 'Mayor participación ciudadana en la planeación'],
  ['deficit-vivienda', 'Reducción del déficit cuantitativo de vivienda'],
  ['formalidad', 'Aumento de la tasa de formalidad laboral'],
  ['homicidios', 'Reducción de la tasa de homicidios'],
  ['lectura', 'Mejora en comprensión lectora (pruebas Saber)'],
  ['caudal', 'Recuperación de caudales en época seca'],
  ['tramites', 'Reducción del tiempo de respuesta de trámites'],
] as const;

const EVIDENCE = {
  hoop: ['Ejecución presupuestal del programa ≥ 80 % (informe de gestión)', 'Metas de producto cumplidas en el plan indicativo', 'Contratos suscritos y registrados en SECOP', 'Población objetivo efectivamente atendida'],
  smoking_gun: ['Acta del consejo de gobierno que vincula el programa con el resultado', 'Evaluación de impacto con grupo de comparación', 'Series de la entidad muestran el cambio justo después de la intervención'],
  doubly_decisive: ['Experimento piloto aleatorizado en veredas', 'Auditoría de la Contraloría con trazabilidad completa'],
  straw_in_the_wind: ['Percepción favorable en encuesta de satisfacción', 'Mención del programa en el informe de rendición de cuentas', 'Notas de prensa local', 'Testimonio de líderes comunales'],
} as const;

type Test = keyof typeof EVIDENCE;
const SENSITIVITY: Record<Test, [number, number]> = {
  hoop: [0.95, 0.6],
  smoking_gun: [0.35, 0.05],
  doubly_decisive: [0.95, 0.05],
  straw_in_the_wind: [0.6, 0.4],
};
const MECHANISMS = ['administrativo', 'tecnico', 'financiero', 'politico', 'mixto'] as const;

const lines: string[] = [];
for (let i = 1; i <= 200; i += 1) {
  const [programId, programName, mechanism] = pick(PROGRAMS);
  const [outcomeId, outcomeName] = pick(OUTCOMES);
  // Whether the mechanism really works in this made-up municipality drives what the evidence shows.
  const works = random() < 0.6;
  const evidence = Array.from({ length: 3 + Math.floor(random() * 6) }, (_, k) => {
    const test = pick(Object.keys(EVIDENCE) as Test[]);
    const [sensitivity, falsePositive] = SENSITIVITY[test];
    const passed = random() < (works ? sensitivity : falsePositive);
    return {
      id: `E${k + 1}`,
      description: pick(EVIDENCE[test]),
      test,
      passed,
      ...(random() < 0.8 ? { mechanism: random() < 0.7 ? mechanism : pick(MECHANISMS) } : {}),
    };
  });
  const trials = random() < 0.5 ? 10 + Math.floor(random() * 40) : 0;
  const rate = works ? 0.55 + random() * 0.35 : 0.1 + random() * 0.3;
  const successes = Math.round(trials * rate);
  const link: Record<string, unknown> = {
    id: `PDM-L${String(i).padStart(3, '0')}`,
    causeId: `programa:${programId}`,
    effectId: `resultado:${outcomeId}`,
    description: `${programName} → ${outcomeName}`,
    evidence,
    ...(trials > 0 ? { observations: { successes, trials } } : {}),
    prior: { alpha: 1, beta: 1 },
    sampling: { chains: 4, draws: 2000, warmup: 1000, seed: i },
  };
  // Pathological by their own size: sampling far longer than any deadline …
  if (i % 50 === 17) link.sampling = { chains: 4, draws: 20_000_000, warmup: 1000, seed: i };
  // … or keeping every one of 80 million draws in memory.
  if (i % 50 === 33) {
    link.sampling = { chains: 4, draws: 20_000_000, warmup: 100, seed: i, keepDraws: true };
    link.evidence = [];
    delete link.observations;
  }
  // Malformed: a test type that does not exist, an outcome that is not a boolean, a missing id.
  if (i === 41) (evidence[0] as Record<string, unknown>).test = 'smoking-gun';
  if (i === 97) (evidence[1] as Record<string, unknown>).passed = 'sí';
  if (i === 155) delete link.effectId;
  lines.push(JSON.stringify(link));
}
// And one line that is not JSON at all, as a hand edit leaves it.
lines.splice(120, 0, '{"id": "PDM-L-roto", "causeId": "programa:catastro", "evidence": [');

const target = new URL('../../docs/examples/links.jsonl', import.meta.url);
writeFileSync(target, `${lines.join('\n')}\n`);
console.log(`wrote ${lines.length} lines to docs/examples/links.jsonl`);
