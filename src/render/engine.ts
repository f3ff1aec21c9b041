import {readFileSync} from 'node:fs'

import Handlebars from 'handlebars'

import {InternalError} from '../errors.js'
import {packagePath} from '../util/paths.js'

/**
 * The one handlebars instance chaos-lab renders with. `strict` makes a missing value an error instead of an
 * empty string; `noEscape` means values are written raw, so every value that reaches a template must be
 * validated first (the config schema) and quoted for its target language by a helper. Only the helpers
 * registered here can be used (`knownHelpersOnly`), so a template cannot call anything else.
 */
const handlebars = Handlebars.create()

/** Characters Ruby would change inside a single-quoted literal: it reads CR LF there as LF. */
const CARRIAGE_RETURN = /\r/

/**
 * A Ruby string literal that Ruby reads back as exactly `value`, never as code: single quotes (no `#{}`
 * interpolation, no escapes but `\\` and `\'`). A carriage return is the one character a single-quoted literal
 * cannot hold unchanged (Ruby reads CR LF as LF there), so it is written as an adjacent `"\r"` literal — Ruby
 * joins adjacent literals into one string.
 */
export function rubyString(value: string): string {
  const quote = (part: string) => `'${part.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
  if (!CARRIAGE_RETURN.test(value)) return quote(value)
  return value.split('\r').map(quote).join(' "\\r" ')
}

function ruby(value: unknown, ...rest: unknown[]): string {
  if (rest.length !== 1) throw new InternalError(`The ruby template helper takes one value, got ${rest.length}.`)
  if (typeof value !== 'string') {
    const what = value === undefined ? 'nothing (is a value the template names missing?)' : value === null ? 'null' : typeof value
    throw new InternalError(`The ruby template helper quotes text only, got ${what}.`)
  }
  return rubyString(value)
}

/** JSON text of a value. Not for Ruby strings: a JSON string is a double-quoted Ruby string, which interpolates. */
function json(value: unknown, ...rest: unknown[]): string {
  if (rest.length !== 1) throw new InternalError(`The json template helper takes one value, got ${rest.length}.`)
  const text = JSON.stringify(value)
  if (text === undefined) throw new InternalError(`The json template helper cannot write ${typeof value}.`)
  return text
}

const HELPERS = {ruby, json} as const
handlebars.registerHelper(HELPERS)
// Of handlebars' built-in helpers, only the plain control flow stays: if, unless, each.
const DROPPED_BUILTINS = ['lookup', 'log', 'with'] as const
for (const name of DROPPED_BUILTINS) handlebars.unregisterHelper(name)

const compileOptions: Parameters<typeof handlebars.compile>[1] = {
  strict: true,
  noEscape: true,
  knownHelpers: {ruby: true, json: true, ...Object.fromEntries(DROPPED_BUILTINS.map((name) => [name, false]))},
  knownHelpersOnly: true,
}

/** Compiles template source with chaos-lab's options and helpers. */
export function compileTemplate(source: string): (data: object) => string {
  const template = handlebars.compile(source, compileOptions)
  return (data: object) => template(data)
}

const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const cache = new Map<string, (data: object) => string>()

/** The path of templates/NAME.hbs in the installed package (works from src/ and from dist/). */
export function templatePath(name: string): string {
  if (!TEMPLATE_NAME.test(name)) throw new InternalError(`Not a template name: ${JSON.stringify(name)}.`)
  return packagePath('templates', `${name}.hbs`)
}

/** Renders templates/NAME.hbs with `data`. A value the template names but `data` lacks is an error. */
export function renderTemplate(name: string, data: object): string {
  let template = cache.get(name)
  if (!template) {
    const file = templatePath(name)
    let source: string
    try {
      source = readFileSync(file, 'utf8')
    } catch (error) {
      throw new InternalError(`The template ${file} could not be read.`, {cause: error, suggestion: 'Reinstall chaos-lab: its templates folder is incomplete.'})
    }
    template = compileTemplate(source)
    cache.set(name, template)
  }
  try {
    return template(data)
  } catch (error) {
    if (error instanceof InternalError) throw error
    throw new InternalError(`Rendering the template ${name}.hbs failed: ${error instanceof Error ? error.message : String(error)}`, {cause: error})
  }
}

/** Parses template source into handlebars' syntax tree (tests use it to audit what a template writes). */
export function parseTemplate(source: string): hbs.AST.Program {
  return handlebars.parse(source)
}
